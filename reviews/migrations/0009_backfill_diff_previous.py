"""Link the diffs made before `Diff.previous` existed to the rejected diffs they answer.

A run started by a rejection was given `agents_app.runs.rejection_prompt`: its diff's
`vibecoder_prompt` holds the person's feedback and the rejected diff's text, word for
word. The latest rejected diff of the same session, made earlier, whose feedback and
text both appear there is the previous iteration. Diffs that match none stay unlinked.
"""

from typing import Any

from django.db import migrations

REJECTION_OPENING = "A person reviewed the diff you produced and rejected it."


def link_iterations(apps: Any, schema_editor: Any) -> None:
    Diff = apps.get_model("reviews", "Diff")
    follow_ups = Diff.objects.filter(
        previous__isnull=True, vibecoder_prompt__startswith=REJECTION_OPENING
    )
    for diff in follow_ups.iterator():
        candidates = Diff.objects.filter(
            session_id=diff.session_id, status="human_rejected", created_at__lt=diff.created_at
        ).order_by("-created_at")
        for rejected in candidates.iterator():
            feedback = f"Their feedback:\n{rejected.human_feedback}\n\n"
            shown = f"The rejected diff:\n{rejected.diff_content}\n"
            if feedback in diff.vibecoder_prompt and shown in diff.vibecoder_prompt:
                Diff.objects.filter(id=diff.id).update(previous_id=rejected.id)
                break


class Migration(migrations.Migration):
    dependencies = [("reviews", "0008_diff_previous")]

    operations = [migrations.RunPython(link_iterations, migrations.RunPython.noop)]
