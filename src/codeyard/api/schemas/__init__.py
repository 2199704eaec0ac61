"""Wire schemas: one model per verb (``…Create``, ``…Update``, ``…Response``), mirroring the Devin v3 reference."""
