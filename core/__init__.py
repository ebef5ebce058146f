"""Process-wide plumbing every part stands on: settings, embedded services, database, migrations."""
