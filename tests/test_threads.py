"""Worker-thread helpers (run/threads.py): results put back in input order."""

from __future__ import annotations

from sacrop_cli.run import threads


def test_in_order_yields_each_photo_once_those_before_it_are_out():
    class Done:
        def __init__(self, position: int) -> None:
            self.position = position

    groups = [[Done(1)], [Done(0), Done(3)], [Done(2)], [Done(5)]]  # 4 never started (a stop)
    assert [d.position for d in threads.in_order(groups)] == [0, 1, 2, 3, 5]
    seen = []
    for done in threads.in_order(iter(groups)):
        seen.append(done.position)
        if done.position == 1:  # out as soon as 0 is, before 2 has finished
            assert seen == [0, 1]
