-- Creates the Slurm accounting database and its user; slurmdbd creates the tables itself on first start.
-- Rendered by slurm_install.sh --full-init into the config directory (mode 600) with the password it also
-- wrote to slurmdbd.conf. Run it as the database administrator:  mysql < /etc/slurm/slurm_acct_db.sql
CREATE DATABASE IF NOT EXISTS `@DB_NAME@`;
CREATE USER IF NOT EXISTS '@DB_USER@'@'@DB_CLIENT_HOST@' IDENTIFIED BY '@DB_PASSWORD@';
ALTER USER '@DB_USER@'@'@DB_CLIENT_HOST@' IDENTIFIED BY '@DB_PASSWORD@';
GRANT ALL PRIVILEGES ON `@DB_NAME@`.* TO '@DB_USER@'@'@DB_CLIENT_HOST@';
FLUSH PRIVILEGES;
