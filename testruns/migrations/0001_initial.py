"""BaseTestResult, taken over from `reviews` (its 0007) with its table: the state only.

The table, its rows and its constraint are left as `reviews` made them. The content
type follows the model, so whatever points at it (permissions) points at this app.
"""

from typing import Any

import django.db.models.deletion
import vibegrapher.text_fields
from django.db import migrations, models


def move_content_type(apps: Any, schema_editor: Any) -> None:
    ContentType = apps.get_model('contenttypes', 'ContentType')
    moved = ContentType.objects.filter(app_label='testruns', model='basetestresult')
    if not moved.exists():
        ContentType.objects.filter(app_label='reviews', model='basetestresult').update(
            app_label='testruns'
        )


def restore_content_type(apps: Any, schema_editor: Any) -> None:
    ContentType = apps.get_model('contenttypes', 'ContentType')
    kept = ContentType.objects.filter(app_label='reviews', model='basetestresult')
    if not kept.exists():
        ContentType.objects.filter(app_label='testruns', model='basetestresult').update(
            app_label='reviews'
        )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('projects', '0002_text_without_nul'),
        ('reviews', '0010_base_test_results_to_testruns'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='BaseTestResult',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('base_commit', vibegrapher.text_fields.CleanCharField(max_length=40)),
                        ('test_hash', vibegrapher.text_fields.CleanCharField(max_length=64)),
                        ('quick', models.BooleanField()),
                        ('status', vibegrapher.text_fields.CleanCharField(max_length=20)),
                        ('output', vibegrapher.text_fields.CleanTextField(blank=True, default='')),
                        ('duration', models.FloatField(default=0.0)),
                        ('isolation', vibegrapher.text_fields.CleanCharField(blank=True, default='', max_length=300)),
                        ('limit', vibegrapher.text_fields.CleanCharField(blank=True, default='', max_length=50)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='base_results', to='projects.project')),
                    ],
                    options={
                        'db_table': 'reviews_basetestresult',
                        'constraints': [models.UniqueConstraint(fields=('project', 'base_commit', 'test_hash', 'quick'), name='one_base_result_per_commit_and_test')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, restore_content_type),
    ]
