# Half of each accounts page is left free, so that the nightly health pass (which rewrites every
# account's health columns) and ingest's rescoring marks update rows in place (HOT) instead of
# moving them and rewriting all seven of their index entries. The table is no larger for it:
# without free space every such pass moved each row to another page, leaving the table about
# half empty anyway.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_plan_adoption"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE accounts_account SET (fillfactor = 50)",
            reverse_sql="ALTER TABLE accounts_account RESET (fillfactor)",
        ),
    ]
