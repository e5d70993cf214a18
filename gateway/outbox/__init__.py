"""The outbox that dispatch and forwarding both stand on: message rows and their status changes
(`messages`), requests to apps (`deliveries`, with their parameters in `payloads`), the queue
counts (`backlog`), and the `Doorbell` that wakes the workers after a commit.

It sits above `store` (which runs its statements) and below `dispatch`, `forwarding` and
`orchestration`, so a status change can queue its callback without dispatch importing forwarding.
"""
