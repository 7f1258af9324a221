"""Dialler campaigns: the PBX calls a list of numbers on a user's behalf and connects each
answered call to a group, queue or IVR menu (:mod:`.dialer`, state in the store: :mod:`.repo`).
"""
