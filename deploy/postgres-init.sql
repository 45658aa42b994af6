-- Run once by the postgres container on an empty volume (/docker-entrypoint-initdb.d), as
-- POSTGRES_USER, who owns POSTGRES_DB (the OLTP database): one database per other user.
CREATE DATABASE mlflow;
CREATE DATABASE dagster;
