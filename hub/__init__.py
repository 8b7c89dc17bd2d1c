"""The Renkei hub: an asyncio NGSI-LD context broker on PostgreSQL (ETSI GS CIM 009)."""
