"""The layer that turns a send or an arrival into its effects: it gathers what a batch needs,
asks the pure decisions (`compliance`, `routing`, `encoding`), and writes through `store` and
`outbox` in one writer job.

`core` is the send (the Messages API, notifications, confirmations), `inbound` an arrival (a
provider's webhook), `consent` a consent change from any source (keyword, API, console,
import).  Only `api`, `console`, `cli` and `runtime` sit above it.
"""
