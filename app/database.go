package app

import (
	"database/sql"

	"github.com/jobsphere/jobsphere/app/database"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/ent"
)

// openDatabase connects to PostgreSQL when DATABASE_URL is set and to the
// embedded SQLite file otherwise.
func openDatabase(cfg *config.Config, open database.Opener) (*sql.DB, *ent.Client, error) {
	if !cfg.Embedded() {
		return database.OpenPostgres(cfg.DatabaseURL, cfg.DBMaxOpenConns, open)
	}
	return database.OpenSQLite(cfg.SQLitePath(), open)
}
