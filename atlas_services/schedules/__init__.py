"""Schedules (issue 13): when each connection's operations start by themselves.

- ``timing``: a cadence (an interval or a daily time in a time zone, with a jitter window), checked, and the slots
  it falls on;
- ``policy``: each suite tenant's default cadences, which a new connection inherits;
- ``manage``: setting, clearing and reading schedules (provider.manage / provider.view);
- ``tick``: one scheduling pass, which starts every due schedule through the start gate.
"""
