"""DMs sent outside an interaction are rendered in the recipient's language."""

from datetime import UTC, datetime

from bot.messages import invite_message, reminder_message, reminder_view
from bot.models import DeliveryKind, Talk, TalkStatus


def _talk() -> Talk:
    moment = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
    return Talk(
        id=7,
        guild_id=1,
        title="Cardiologie",
        speaker="Dr Martin",
        speaker_bio=None,
        description=None,
        location="Amphi A",
        start_at=moment,
        duration_min=60,
        capacity=10,
        reminders=(60,),
        announce_at=None,
        status=TalkStatus.SCHEDULED,
        cancel_reason=None,
        sequence=0,
        announcement_channel_id=None,
        announcement_message_id=None,
        created_by=1,
        created_at=moment,
        updated_at=moment,
    )


def test_invite_and_reminder_in_french_and_english() -> None:
    talk = _talk()
    assert invite_message(talk, DeliveryKind.INVITE_CONFIRMED, "fr").startswith("Vous êtes inscrit·e à **Cardiologie**")
    assert invite_message(talk, DeliveryKind.INVITE_CONFIRMED).startswith("You're registered for **Cardiologie**")
    french = reminder_message(talk, 60, "fr")
    assert french.startswith("⏰ Rappel (") and "Lieu\u00a0: Amphi A" in french
    assert "Where: Amphi A" in reminder_message(talk, 60, "en")
    button = reminder_view(talk, None, "fr").children[0]
    assert getattr(button, "label", None) == "Se désinscrire"
