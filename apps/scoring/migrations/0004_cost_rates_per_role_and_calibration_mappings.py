# Cost to serve per functional role; a calibration proposes refitted thresholds.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scoring', '0003_default_profile'),
    ]

    operations = [
        migrations.AddField(
            model_name='calibration',
            name='mappings',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='valuesettings',
            name='role_hourly_rates',
            field=models.JSONField(blank=True, default=dict, help_text='Cost of an hour of work per functional role.'),
        ),
        migrations.AlterField(
            model_name='valuesettings',
            name='hourly_rate',
            field=models.DecimalField(decimal_places=2, default=60, help_text='Cost of an hour of work by a role without its own rate (or by no member).', max_digits=10),
        ),
    ]
