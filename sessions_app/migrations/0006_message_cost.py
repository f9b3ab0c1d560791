from django.db import migrations, models


def price_stored_messages(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Messages stored before costs were: priced with today's table (the best there is)."""
    from sessions_app.costs import cost_of_usage

    Message = apps.get_model("sessions_app", "ConversationMessage")
    batch = []
    for message in Message.objects.filter(token_usage__isnull=False).only("id", "token_usage").iterator():
        message.cost_usd = cost_of_usage(message.token_usage)
        if message.cost_usd is not None:
            batch.append(message)
        if len(batch) >= 500:
            Message.objects.bulk_update(batch, ["cost_usd"])
            batch = []
    if batch:
        Message.objects.bulk_update(batch, ["cost_usd"])


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0005_run_cancel_requested"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversationmessage",
            name="cost_usd",
            field=models.DecimalField(blank=True, decimal_places=8, max_digits=14, null=True),
        ),
        migrations.RunPython(price_stored_messages, migrations.RunPython.noop, elidable=True),
    ]
