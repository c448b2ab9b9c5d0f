"""Home Assistant as a data source: REST client, WebSocket statistics client, JSON mapping and
the DataSource built on them (docs/data-sources.md)."""
