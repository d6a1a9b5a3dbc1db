"""One registry over several shards in other processes: the engine-neutral part of
`genregistry.ray`.

Nothing here imports Ray. `route` picks an id's shard, `shard` is what runs inside a
shard (a thread registry answering requests), `client` the functions callers use over an
`Engine` (how requests reach a shard), `local` an in-process engine for tests.
"""
