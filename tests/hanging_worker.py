"""Stands in for ``python -m bot.import_worker`` and ignores its limits, so that the bot has to kill it."""

import time

if __name__ == "__main__":
    time.sleep(600)
