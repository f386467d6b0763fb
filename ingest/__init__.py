"""Everything upstream of the store: fetch feeds, parse them, clean them, keep their entries."""
