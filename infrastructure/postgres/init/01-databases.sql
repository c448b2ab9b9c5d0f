-- Run by the postgres image on the first start of an empty data volume (compose.yaml mounts this
-- directory at /docker-entrypoint-initdb.d). POSTGRES_DB already created `aether`, the gateway's.
-- Each agent service gets a database of its own for its A2A task store, so roles never share
-- tables or migrations and each can be scaled (replicas of one role share its database).
CREATE DATABASE aether_architect OWNER aether;
CREATE DATABASE aether_ds_orchestrator OWNER aether;
CREATE DATABASE aether_ds_analysts OWNER aether;
