"""Writes msgstore.db: a ~90 MB SQLite chat database (650k messages), deterministic."""
import random
import sqlite3
import sys

random.seed(1)
db = sqlite3.connect(sys.argv[1] if len(sys.argv) > 1 else "msgstore.db")
db.execute("create table messages (id integer primary key, chat integer, ts integer, body text, media blob)")
words = ["hello", "backup", "see", "you", "tomorrow", "photo", "ok", "thanks", "where", "are"]
for b in range(13):
    rows = [
        (b * 50000 + i, random.randrange(50), 1700000000 + i * 7,
         " ".join(random.choice(words) for _ in range(random.randrange(3, 30))),
         random.randbytes(random.randrange(0, 64)))
        for i in range(50000)
    ]
    db.executemany("insert into messages values (?,?,?,?,?)", rows)
db.commit()
