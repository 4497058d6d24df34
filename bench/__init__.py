"""The benchmark suite: seeding, the bare-Django floor, the load runner (docs/performance.md)."""
