"""Every tenant starts with the default health profile: created here in the template schema,
so tenants cloned from it have it from their first moment and no read ever has to write it."""

from typing import Any

from django.db import migrations


def create_default_profile(apps: Any, schema_editor: Any) -> None:
    from apps.scoring import metrics

    profile_model = apps.get_model("scoring", "HealthProfile")
    version_model = apps.get_model("scoring", "HealthProfileVersion")
    if profile_model.objects.filter(segment="", lifecycle_stage="").exists():
        return
    profile = profile_model.objects.create(
        name=metrics.DEFAULT_PROFILE_NAME,
        segment="",
        lifecycle_stage="",
        components=metrics.default_components(),
    )
    version_model.objects.create(
        profile=profile,
        version=profile.version,
        name=profile.name,
        segment="",
        lifecycle_stage="",
        components=profile.components,
        churn_model=profile.churn_model,
    )


class Migration(migrations.Migration):
    dependencies = [("scoring", "0002_account_value")]

    operations = [migrations.RunPython(create_default_profile, migrations.RunPython.noop)]
