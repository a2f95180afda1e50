"""Account.squad_id becomes a real foreign key to the squad that works the account.

The column belongs to accounts (which imports no app), so the constraint is added here, by the
app that owns squads. Deferrable like Django's own foreign keys; a deleted squad leaves its
accounts without a squad.
"""

from django.db import migrations

ADD = """
UPDATE accounts_account SET squad_id = NULL
    WHERE squad_id IS NOT NULL AND squad_id NOT IN (SELECT id FROM squads_squad);
ALTER TABLE accounts_account ADD CONSTRAINT accounts_account_squad_id_fk_squads_squad
    FOREIGN KEY (squad_id) REFERENCES squads_squad (id) ON DELETE SET NULL
    DEFERRABLE INITIALLY DEFERRED;
"""
DROP = "ALTER TABLE accounts_account DROP CONSTRAINT accounts_account_squad_id_fk_squads_squad;"


class Migration(migrations.Migration):
    dependencies = [
        ("squads", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunSQL(ADD, DROP)]
