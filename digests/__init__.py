"""Everything downstream of the store: select, group, render and deliver digests."""
