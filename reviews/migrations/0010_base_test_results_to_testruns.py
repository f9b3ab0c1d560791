"""BaseTestResult now belongs to the `testruns` app: dropped from this app's state only.

The table stays as it is (`reviews_basetestresult`, its rows and constraint);
`testruns` 0001 takes the model over with the same table.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('reviews', '0009_backfill_diff_previous'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='BaseTestResult')],
            database_operations=[],
        ),
    ]
