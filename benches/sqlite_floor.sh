#!/bin/sh
# What SQLite alone costs to store what kraken-tax stores, with no Rust involved: the ledger
# rows of DB (a database filled by `kraken-tax import`) and, when DB has them, its derived
# legs are copied into a fresh file with the same tables and indexes, one step at a time,
# with the settings the import and the derived refresh use (WAL, synchronous=NORMAL, 16 KiB
# pages, 512 MiB cache). The figures bound how fast `import` and a derived refresh can be.
#
# Usage: sh benches/sqlite_floor.sh DB      (needs the sqlite3 command-line tool)
# A DB of 1,000,000 entries: `cargo bench --bench whole` writes ledgers.csv into a temporary
# directory; or run the bench binary with KRAKEN_TAX_BENCH_WHOLE_GENERATE="1000000 DIR", then
# `kraken-tax --db DB --account bench import DIR/ledgers.csv` (and `export ... --offline` once
# to store the derived legs).
set -eu
src=$(realpath "$1")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
dst="$dir/floor.sqlite"

ddl() { sqlite3 "$src" "SELECT sql || ';' FROM sqlite_master WHERE name = '$1'"; }

# step LABEL FOREIGN_KEYS SQL: SQL in one transaction on the copy, with DB attached as src.
step() {
    /usr/bin/time -f "$1: %e s wall, %U s user, %S s sys" \
        sqlite3 "$dst" "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-524288;
            PRAGMA foreign_keys=$2; ATTACH '$src' AS src; BEGIN; $3; COMMIT;" >/dev/null
}

fresh() {
    rm -f "$dst" "$dst-wal" "$dst-shm"
    sqlite3 "$dst" "PRAGMA page_size=16384; PRAGMA journal_mode=WAL;" >/dev/null
    sqlite3 "$dst" "$(ddl accounts) $(ddl ledger_entries)
        ATTACH '$src' AS src; INSERT INTO accounts SELECT * FROM src.accounts;"
}

echo "$(sqlite3 "$src" 'SELECT count(*) FROM ledger_entries') ledger rows in $1"
copy_ledger="INSERT INTO ledger_entries SELECT * FROM src.ledger_entries ORDER BY rowid"
fresh
step "ledger table with its unique id index" ON "$copy_ledger"
step "then the covering index, built at once" ON "$(ddl ledger_entries_scan)"
fresh
sqlite3 "$dst" "$(ddl ledger_entries_scan)"
step "ledger table, both indexes kept per row (as import does)" ON "$copy_ledger"

if [ "$(sqlite3 "$src" 'SELECT count(*) FROM legs')" -gt 0 ]; then
    sqlite3 "$dst" "$(ddl legs)"
    copy_legs="INSERT INTO legs SELECT * FROM src.legs"
    step "derived legs, foreign keys checked" ON "$copy_legs"
    sqlite3 "$dst" "DELETE FROM legs; VACUUM;" >/dev/null
    step "derived legs, foreign keys off" OFF "$copy_legs"
    step "then the legs time index" ON "$(ddl legs_by_time)"
fi
