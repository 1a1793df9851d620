"""Pure core: parsing, SQL rendering, catalog facts, planning and status. No I/O: nothing here
imports asyncpg, kubernetes, kopf or the runtime package (.importlinter enforces it)."""
