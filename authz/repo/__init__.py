"""All SQL of access control, one module per resource; callers hold the connection (and
the transaction, when one is needed). Rows become ``authz.model`` objects here."""
