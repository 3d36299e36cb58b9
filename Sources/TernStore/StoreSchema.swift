import GRDB

/// The database schema, as an ordered list of migrations.
///
/// Migrations are only ever appended: a released migration is never edited, so any older state
/// folder upgrades in place. A database that has applied a migration this list lacks was written
/// by a newer Tern; opening it is refused rather than risk misreading it.
///
/// Conventions: sids are TEXT primary keys; dates are INTEGER milliseconds since 1970 (UTC), as
/// `UnixTime` holds them; `creation_index` is the stream's UInt64 position stored as its Int64 bit
/// pattern (SQLite integers are signed 64-bit).
enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 identity, services, streams") { db in
            try db.execute(
                sql: """
                    CREATE TABLE identity (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        account_sid TEXT NOT NULL,
                        default_service_sid TEXT NOT NULL,
                        auth_token TEXT NOT NULL
                    );
                    CREATE TABLE services (
                        sid TEXT PRIMARY KEY NOT NULL,
                        account_sid TEXT NOT NULL,
                        friendly_name TEXT,
                        date_created INTEGER NOT NULL,
                        date_updated INTEGER NOT NULL
                    );
                    CREATE TABLE streams (
                        sid TEXT PRIMARY KEY NOT NULL,
                        service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
                        account_sid TEXT NOT NULL,
                        unique_name TEXT,
                        created_by TEXT NOT NULL,
                        date_created INTEGER NOT NULL,
                        date_updated INTEGER NOT NULL,
                        date_expires INTEGER,
                        creation_index INTEGER NOT NULL,
                        -- NULL unique names never collide (SQLite treats NULLs as distinct). The index
                        -- this creates also serves the cascade's lookup of a service's streams.
                        UNIQUE (service_sid, unique_name)
                    );
                    """
            )
        }
        migrator.registerMigration("v2 api keys") { db in
            // A key's secret is never stored: only a random salt and SHA-256(salt ‖ secret).
            try db.execute(
                sql: """
                    CREATE TABLE api_keys (
                        sid TEXT PRIMARY KEY NOT NULL,
                        account_sid TEXT NOT NULL,
                        friendly_name TEXT,
                        date_created INTEGER NOT NULL,
                        date_updated INTEGER NOT NULL,
                        secret_salt BLOB NOT NULL,
                        secret_hash BLOB NOT NULL
                    );
                    """
            )
        }
        return migrator
    }
}
