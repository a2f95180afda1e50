# Half of each current-score page is left free, so that a recompute that rewrites a score (its
# as-of moves on every pass) updates the row in place (HOT) rather than moving it.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0005_calibration_run"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE scoring_healthscore SET (fillfactor = 50)",
            reverse_sql="ALTER TABLE scoring_healthscore RESET (fillfactor)",
        ),
    ]
