"""What `make airflow` says before it starts: the catch-up unpausing cx_daily would queue."""

from __future__ import annotations

from datetime import date

from cx.orchestration.startup import catchup_note, newest_landing_day


def test_newest_landing_day_is_the_newest_date_folder(tmp_path):
    assert newest_landing_day(tmp_path / "missing") is None
    for source, day in (("orders", "2011-12-09"), ("customers", "2011-12-01"), ("orders", "notes")):
        (tmp_path / source / day).mkdir(parents=True)
    assert newest_landing_day(tmp_path) == date(2011, 12, 9)


def test_catchup_note_counts_the_runs_over_days_without_data():
    today = date(2026, 12, 3)
    on = catchup_note(True, date(2024, 1, 1), date(2024, 11, 29), today)
    assert "queues 1068 daily runs" in on and "734 of them after the newest landing day 2024-11-29" in on
    # data older than the start date: every queued run is a day without data
    assert "1068 of them" in catchup_note(True, date(2024, 1, 1), date(2011, 12, 9), today)
    off = catchup_note(False, date(2024, 1, 1), date(2024, 11, 29), today)
    assert "catch-up off" in off and "2024-11-29" in off and "queues" not in off
