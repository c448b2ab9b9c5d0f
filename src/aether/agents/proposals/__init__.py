"""Proposals: the architect turns findings into Home Assistant automations that a person approves.

`model` is the data that travels (events, store, API); `drafting` builds proposals from findings,
`automation` and `validation` make and check the Home Assistant configuration, `answers` reads a
person's reply, `text` says it all in the chat, and `lifecycle` moves a stored proposal through
proposed -> approved -> deployed (or rejected; deployed -> rolled back). Nothing here changes Home
Assistant except `lifecycle`, and only for an approved proposal.
"""
