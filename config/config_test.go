package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testSecret = "0123456789abcdef0123456789abcdef-test-secret"

// env returns a map-backed getenv with DATA_DIR set to a fresh directory,
// overridden by kv (pairs of name, value).
func env(t *testing.T, kv ...string) (func(string) string, map[string]string) {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatalf("env: odd number of arguments")
	}
	m := map[string]string{"DATA_DIR": t.TempDir()}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }, m
}

func mustLoad(t *testing.T, getenv func(string) string) *Config {
	t.Helper()
	c, err := Load(getenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	getenv, m := env(t)
	c := mustLoad(t, getenv)

	checks := []struct {
		name      string
		got, want any
	}{
		{"Env", c.Env, "development"},
		{"Production", c.Production(), false},
		{"Port", c.Port, 8080},
		{"PublicURL", c.PublicURL, "http://localhost:8080"},
		{"DatabaseURL", c.DatabaseURL, ""},
		{"NATSURL", c.NATSURL, ""},
		{"Embedded", c.Embedded(), true},
		{"DataDir", c.DataDir, m["DATA_DIR"]},
		{"SQLitePath", c.SQLitePath(), filepath.Join(m["DATA_DIR"], "jobsphere.db")},
		{"AccessTokenTTL", c.AccessTokenTTL, 15 * time.Minute},
		{"RefreshTokenTTL", c.RefreshTokenTTL, 720 * time.Hour},
		{"BcryptCost", c.BcryptCost, 12},
		{"CORSOrigins", c.CORSOrigins, []string{"*"}},
		{"Currency.Code", c.Currency.Code, "usd"},
		{"Currency.Exponent", c.Currency.Exponent, 2},
		{"FeeCustomerBPS", c.FeeCustomerBPS, 500},
		{"FeeContractorBPS", c.FeeContractorBPS, 2000},
		{"MinDeposit", c.MinDeposit, int64(1000)},
		{"MinOffer", c.MinOffer, int64(1000)},
		{"MaxOffer", c.MaxOffer, int64(1000000)},
		{"MinWithdrawal", c.MinWithdrawal, int64(1000)},
		{"MaxWithdrawal", c.MaxWithdrawal, int64(1000000)},
		{"OfferTTL", c.OfferTTL, 168 * time.Hour},
		{"RequireReleaseApproval", c.RequireReleaseApproval, true},
		{"AutoReleaseDays", c.AutoReleaseDays, 14},
		{"DisputeResponseDays", c.DisputeResponseDays, 5},
		{"RequireWithdrawalApproval", c.RequireWithdrawalApproval, false},
		{"AutoMigrate", c.AutoMigrate, true},
		{"MaxBodyBytes", c.MaxBodyBytes, int64(1048576)},
		{"MaxUploadBytes", c.MaxUploadBytes, int64(104857600)},
		{"WebsocketInitTimeout", c.WebsocketInitTimeout, 10 * time.Second},
		{"WebsocketMaxSubscriptions", c.WebsocketMaxSubscriptions, 100},
		{"WebsocketPerAddress", c.WebsocketPerAddress, 100},
		{"GraphQLMaxDepth", c.GraphQLMaxDepth, 12},
		{"GraphQLMaxComplexity", c.GraphQLMaxComplexity, 1000},
		{"Introspection", c.Introspection, true},
		{"Playground", c.Playground, true},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"LogFormat", c.LogFormat, "text"},
		{"ShutdownTimeout", c.ShutdownTimeout, 15 * time.Second},
		{"len(JWTSecret)", len(c.JWTSecret), 64},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestDefaultDataDir(t *testing.T) {
	c := mustLoad(t, func(k string) string {
		if k == "JWT_SECRET" {
			return testSecret // so nothing is written to ./data
		}
		return ""
	})
	if c.DataDir != "./data" {
		t.Errorf("DataDir = %q, want ./data", c.DataDir)
	}
}

func TestValidValues(t *testing.T) {
	tests := []struct {
		name  string
		kv    []string
		check func(*Config) bool
	}{
		{"port zero", []string{"PORT", "0"}, func(c *Config) bool { return c.Port == 0 && c.PublicURL == "http://localhost:0" }},
		{"public url slash removed", []string{"PUBLIC_URL", "https://jobs.example.com/app/"}, func(c *Config) bool { return c.PublicURL == "https://jobs.example.com/app" }},
		{"public url follows port", []string{"PORT", "9000"}, func(c *Config) bool { return c.PublicURL == "http://localhost:9000" }},
		{"postgres", []string{"DATABASE_URL", "postgres://u:p@db:5432/jobs"}, func(c *Config) bool { return !c.Embedded() && !c.AutoMigrate }},
		{"postgresql auto migrate", []string{"DATABASE_URL", "postgresql://db/jobs", "AUTO_MIGRATE", "yes"}, func(c *Config) bool { return !c.Embedded() && c.AutoMigrate }},
		{"nats", []string{"NATS_URL", "nats://u:p@nats-1:4222, tls://nats-2:4222"}, func(c *Config) bool { return c.NATSURL == "nats://u:p@nats-1:4222, tls://nats-2:4222" }},
		{"env test", []string{"APP_ENV", "test"}, func(c *Config) bool { return c.Env == "test" && !c.Production() }},
		{"cors list", []string{"CORS_ORIGINS", " https://A.example.com , ,http://localhost:3000,"}, func(c *Config) bool {
			return reflect.DeepEqual(c.CORSOrigins, []string{"https://a.example.com", "http://localhost:3000"})
		}},
		{"cors only empties", []string{"CORS_ORIGINS", " , "}, func(c *Config) bool { return c.CORSOrigins != nil && len(c.CORSOrigins) == 0 }},
		{"currency upper", []string{"CURRENCY", "EUR"}, func(c *Config) bool { return c.Currency.Code == "eur" }},
		{"jpy", []string{"CURRENCY", "jpy", "MIN_DEPOSIT", "10"}, func(c *Config) bool {
			return c.Currency.Exponent == 0 && c.MinDeposit == 10 && c.MinOffer == 10 && c.MaxOffer == 10000
		}},
		{"usd cents", []string{"MIN_DEPOSIT", "10.05", "OFFER_MAX", "250.5"}, func(c *Config) bool { return c.MinDeposit == 1005 && c.MaxOffer == 25050 }},
		{"log level", []string{"LOG_LEVEL", "DEBUG", "LOG_FORMAT", "JSON"}, func(c *Config) bool { return c.LogLevel == slog.LevelDebug && c.LogFormat == "json" }},
		{"durations", []string{"ACCESS_TOKEN_TTL", "1m", "REFRESH_TOKEN_TTL", "1h", "OFFER_TTL", "30m", "SHUTDOWN_TIMEOUT", "2s"}, func(c *Config) bool {
			return c.AccessTokenTTL == time.Minute && c.RefreshTokenTTL == time.Hour && c.OfferTTL == 30*time.Minute && c.ShutdownTimeout == 2*time.Second
		}},
		{"auto-release days", []string{"AUTO_RELEASE_DAYS", "3"}, func(c *Config) bool { return c.AutoReleaseDays == 3 }},
		{"dispute response days", []string{"DISPUTE_RESPONSE_DAYS", "1"}, func(c *Config) bool { return c.DisputeResponseDays == 1 }},
		{"short access tokens", []string{"ACCESS_TOKEN_TTL", "1s"}, func(c *Config) bool { return c.AccessTokenTTL == time.Second }},
		{"websocket limits", []string{"WEBSOCKET_INIT_TIMEOUT", "1s", "WEBSOCKET_MAX_SUBSCRIPTIONS", "1", "WEBSOCKET_LIMIT_PER_ADDRESS", "0"}, func(c *Config) bool {
			return c.WebsocketInitTimeout == time.Second && c.WebsocketMaxSubscriptions == 1 && c.WebsocketPerAddress == 0
		}},
		{"upload equals body", []string{"MAX_BODY_BYTES", "2048", "MAX_UPLOAD_BYTES", "2048"}, func(c *Config) bool { return c.MaxUploadBytes == 2048 }},
		{"explicit secret", []string{"JWT_SECRET", testSecret}, func(c *Config) bool { return string(c.JWTSecret) == testSecret }},
		{"spaces trimmed", []string{"PORT", " 9090 ", "BCRYPT_COST", "\t4\n"}, func(c *Config) bool { return c.Port == 9090 && c.BcryptCost == 4 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv, _ := env(t, tt.kv...)
			c := mustLoad(t, getenv)
			if !tt.check(c) {
				t.Errorf("unexpected config for %v: %+v", tt.kv, c)
			}
		})
	}
}

func TestBooleans(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"true", true}, {"TRUE", true}, {"1", true}, {"yes", true}, {"On", true},
		{"false", false}, {"False", false}, {"0", false}, {"no", false}, {"OFF", false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			getenv, _ := env(t,
				"REQUIRE_RELEASE_APPROVAL", tt.value,
				"REQUIRE_WITHDRAWAL_APPROVAL", tt.value,
				"AUTO_MIGRATE", tt.value,
				"GRAPHQL_INTROSPECTION", tt.value,
				"GRAPHIQL", tt.value)
			c := mustLoad(t, getenv)
			for name, got := range map[string]bool{
				"RequireReleaseApproval":    c.RequireReleaseApproval,
				"RequireWithdrawalApproval": c.RequireWithdrawalApproval,
				"AutoMigrate":               c.AutoMigrate,
				"Introspection":             c.Introspection,
				"Playground":                c.Playground,
			} {
				if got != tt.want {
					t.Errorf("%s = %v for %q, want %v", name, got, tt.value, tt.want)
				}
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // substring of the message, after "NAME: "
		extra       []string
	}{
		{"APP_ENV", "staging", `got "staging"`, nil},
		{"PORT", "abc", `must be an integer between 0 and 65535, got "abc"`, nil},
		{"PORT", "65536", `got "65536"`, nil},
		{"PORT", "-1", `got "-1"`, nil},
		{"PUBLIC_URL", "jobs.example.com", `absolute http(s) URL`, nil},
		{"PUBLIC_URL", "ftp://jobs.example.com", `absolute http(s) URL`, nil},
		{"PUBLIC_URL", "https://jobs.example.com/?a=b", `query or fragment`, nil},
		{"DATABASE_URL", "mysql://root:pw@db/jobs", `postgres://`, nil},
		{"NATS_URL", "127.0.0.1:4222", `like "nats://127.0.0.1:4222"`, nil},
		{"NATS_URL", "nats://a:4222,http://b", `nats://, tls://, ws:// or wss://`, nil},
		{"ACCESS_TOKEN_TTL", "500ms", `between 1s and 24h`, nil},
		{"ACCESS_TOKEN_TTL", "25h", `between 1s and 24h`, nil},
		{"ACCESS_TOKEN_TTL", "15", `got "15"`, nil},
		{"REFRESH_TOKEN_TTL", "59m", `at least 1h`, nil},
		{"REFRESH_TOKEN_TTL", "2h", `shorter than ACCESS_TOKEN_TTL`, []string{"ACCESS_TOKEN_TTL", "3h"}},
		{"BCRYPT_COST", "3", `between 4 and 31`, nil},
		{"BCRYPT_COST", "32", `between 4 and 31`, nil},
		{"CORS_ORIGINS", "https://a.example.com/path", `"https://a.example.com/path"`, nil},
		{"CORS_ORIGINS", "https://ok.example.com,a.example.com", `"a.example.com"`, nil},
		{"CORS_ORIGINS", "https://a.example.com/", `without path`, nil},
		{"CURRENCY", "xyz", `got "xyz"`, nil},
		{"FEE_CUSTOMER_BPS", "10001", `between 0 and 10000`, nil},
		{"FEE_CONTRACTOR_BPS", "-5", `between 0 and 10000`, nil},
		{"MIN_DEPOSIT", "10.005", `more than 2 decimal places`, nil},
		{"MIN_DEPOSIT", "-10", `negative`, nil},
		{"MIN_DEPOSIT", "ten", `"ten"`, nil},
		{"OFFER_MIN", "1e3", `"1e3"`, nil},
		{"OFFER_MAX", "5", `at least OFFER_MIN (10.00)`, nil},
		{"WITHDRAWAL_MIN", "10.5", `more than 0 decimal places`, []string{"CURRENCY", "jpy"}},
		{"WITHDRAWAL_MAX", "99", `at least WITHDRAWAL_MIN`, []string{"WITHDRAWAL_MIN", "100"}},
		{"OFFER_TTL", "0s", `positive duration`, nil},
		{"OFFER_TTL", "-1h", `positive duration`, nil},
		{"AUTO_RELEASE_DAYS", "2", `between 3 and 365`, nil},
		{"AUTO_RELEASE_DAYS", "366", `between 3 and 365`, nil},
		{"AUTO_RELEASE_DAYS", "1.5", `"1.5"`, nil},
		{"DISPUTE_RESPONSE_DAYS", "0", `between 1 and 60`, nil},
		{"REQUIRE_RELEASE_APPROVAL", "maybe", `got "maybe"`, nil},
		{"REQUIRE_WITHDRAWAL_APPROVAL", "y", `got "y"`, nil},
		{"AUTO_MIGRATE", "2", `got "2"`, nil},
		{"MAX_BODY_BYTES", "1023", `at least 1024`, nil},
		{"MAX_UPLOAD_BYTES", "2048", `at least MAX_BODY_BYTES`, nil},
		{"WEBSOCKET_INIT_TIMEOUT", "500ms", `between 1s and 5m`, nil},
		{"WEBSOCKET_INIT_TIMEOUT", "6m", `between 1s and 5m`, nil},
		{"WEBSOCKET_MAX_SUBSCRIPTIONS", "0", `between 1 and 100000`, nil},
		{"WEBSOCKET_LIMIT_PER_ADDRESS", "-1", `between 0 and 2147483647`, nil},
		{"GRAPHQL_MAX_DEPTH", "1", `between 2 and 100`, nil},
		{"GRAPHQL_MAX_DEPTH", "101", `between 2 and 100`, nil},
		{"GRAPHQL_MAX_COMPLEXITY", "9", `at least 10`, nil},
		{"GRAPHQL_INTROSPECTION", "enabled", `got "enabled"`, nil},
		{"GRAPHIQL", "nope", `got "nope"`, nil},
		{"LOG_LEVEL", "trace", `got "trace"`, nil},
		{"LOG_FORMAT", "xml", `LOG_FORMAT: must be one of "text", "json", got "xml"`, nil},
		{"SHUTDOWN_TIMEOUT", "soon", `got "soon"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			getenv, m := env(t, append([]string{tt.name, tt.value}, tt.extra...)...)
			c, err := Load(getenv)
			if err == nil {
				t.Fatalf("Load accepted %s=%q: %+v", tt.name, tt.value, c)
			}
			if c != nil {
				t.Errorf("Load returned a config with an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.name+": ") {
				t.Errorf("error does not name %s: %v", tt.name, msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if lines := strings.Split(msg, "\n"); len(lines) != 1 {
				t.Errorf("want exactly one problem, got %d: %v", len(lines), msg)
			}
			if _, err := os.Stat(filepath.Join(m["DATA_DIR"], "jwt_secret")); !os.IsNotExist(err) {
				t.Errorf("a refused configuration wrote the secret file (stat: %v)", err)
			}
		})
	}
}

func TestSeveralProblemsTogether(t *testing.T) {
	getenv, _ := env(t,
		"PORT", "abc",
		"BCRYPT_COST", "99",
		"LOG_LEVEL", "loud",
		"MIN_DEPOSIT", "10.005",
		"GRAPHIQL", "perhaps",
		"JWT_SECRET", "short",
	)
	_, err := Load(getenv)
	if err == nil {
		t.Fatal("Load accepted several bad values")
	}
	msg := err.Error()
	for _, name := range []string{"PORT", "BCRYPT_COST", "LOG_LEVEL", "MIN_DEPOSIT", "GRAPHIQL", "JWT_SECRET"} {
		if !strings.Contains(msg, name+": ") {
			t.Errorf("error does not report %s:\n%v", name, msg)
		}
	}
	if n := len(strings.Split(msg, "\n")); n != 6 {
		t.Errorf("want 6 lines, got %d:\n%v", n, msg)
	}
	if !strings.Contains(msg, `PORT: must be an integer between 0 and 65535, got "abc"`) {
		t.Errorf("unexpected PORT message:\n%v", msg)
	}
}

func TestProduction(t *testing.T) {
	t.Run("requires JWT_SECRET", func(t *testing.T) {
		getenv, m := env(t, "APP_ENV", "production")
		_, err := Load(getenv)
		if err == nil || !strings.Contains(err.Error(), "JWT_SECRET: ") || !strings.Contains(err.Error(), "production") {
			t.Fatalf("want a JWT_SECRET error, got %v", err)
		}
		if _, err := os.Stat(filepath.Join(m["DATA_DIR"], "jwt_secret")); !os.IsNotExist(err) {
			t.Errorf("production wrote a secret file (stat: %v)", err)
		}
	})
	t.Run("ignores a saved secret", func(t *testing.T) {
		getenv, m := env(t, "APP_ENV", "production")
		if err := os.WriteFile(filepath.Join(m["DATA_DIR"], "jwt_secret"), []byte(testSecret), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(getenv); err == nil || !strings.Contains(err.Error(), "JWT_SECRET: ") {
			t.Fatalf("want a JWT_SECRET error, got %v", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		getenv, _ := env(t, append([]string{"APP_ENV", "Production", "JWT_SECRET", testSecret}, stripeKeys...)...)
		c := mustLoad(t, getenv)
		if !c.Production() || c.Env != "production" {
			t.Errorf("Env = %q", c.Env)
		}
		if c.CORSOrigins == nil || len(c.CORSOrigins) != 0 {
			t.Errorf("CORSOrigins = %#v, want []", c.CORSOrigins)
		}
		if c.Introspection || c.Playground {
			t.Errorf("Introspection = %v, Playground = %v, want both false", c.Introspection, c.Playground)
		}
		if c.LogFormat != "json" {
			t.Errorf("LogFormat = %q, want json", c.LogFormat)
		}
		if string(c.JWTSecret) != testSecret {
			t.Errorf("JWTSecret is not JWT_SECRET")
		}
	})
	t.Run("explicit overrides", func(t *testing.T) {
		getenv, _ := env(t, append([]string{"APP_ENV", "production", "JWT_SECRET", testSecret,
			"CORS_ORIGINS", "*", "GRAPHQL_INTROSPECTION", "on", "GRAPHIQL", "1", "BCRYPT_COST", "10", "LOG_FORMAT", "text"}, stripeKeys...)...)
		c := mustLoad(t, getenv)
		if !reflect.DeepEqual(c.CORSOrigins, []string{"*"}) || !c.Introspection || !c.Playground || c.BcryptCost != 10 || c.LogFormat != "text" {
			t.Errorf("overrides not applied: %+v", c)
		}
	})
	t.Run("bcrypt cost", func(t *testing.T) {
		getenv, _ := env(t, "APP_ENV", "production", "JWT_SECRET", testSecret, "BCRYPT_COST", "9")
		_, err := Load(getenv)
		if err == nil || !strings.Contains(err.Error(), "BCRYPT_COST: must be at least 10 in production") {
			t.Fatalf("want a BCRYPT_COST error, got %v", err)
		}
	})
}

func TestGeneratedSecretPersisted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	getenv := func(k string) string {
		if k == "DATA_DIR" {
			return dir
		}
		return ""
	}
	first := mustLoad(t, getenv)
	if len(first.JWTSecret) != 64 {
		t.Fatalf("generated secret is %d bytes, want 64", len(first.JWTSecret))
	}
	path := filepath.Join(dir, "jwt_secret")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("secret file mode = %o, want 600", perm)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode = %o, want 700", perm)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, first.JWTSecret) {
		t.Errorf("file holds a different secret than the one in use")
	}

	second := mustLoad(t, getenv)
	if !bytes.Equal(first.JWTSecret, second.JWTSecret) {
		t.Errorf("second Load returned a different secret")
	}

	other := mustLoad(t, func(k string) string {
		if k == "DATA_DIR" {
			return t.TempDir()
		}
		return ""
	})
	if bytes.Equal(first.JWTSecret, other.JWTSecret) {
		t.Errorf("two data directories got the same secret")
	}
}

func TestSavedSecret(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string // secret, or "" for an error
	}{
		{"trailing newline trimmed", testSecret + "\n", testSecret},
		{"too short", "tiny-secret\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv, m := env(t)
			if err := os.WriteFile(filepath.Join(m["DATA_DIR"], "jwt_secret"), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(getenv)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "JWT_SECRET: ") {
					t.Fatalf("want a JWT_SECRET error, got %v", err)
				}
				if strings.Contains(err.Error(), strings.TrimSpace(tt.content)) {
					t.Errorf("error shows the saved secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(c.JWTSecret) != tt.want {
				t.Errorf("JWTSecret differs from the saved one")
			}
		})
	}
}

func TestSecretsNotEchoed(t *testing.T) {
	tests := []struct {
		name, value, secret string
	}{
		{"JWT_SECRET", "sup3r-s3cret-value", "sup3r-s3cret-value"},
		{"DATABASE_URL", "mysql://root:hunter2pass@db/jobs", "hunter2pass"},
		{"DATABASE_URL", "postgres://root:hunter2pass@db:port/jobs", "hunter2pass"},
		{"NATS_URL", "nats://root:hunter2pass@nats:port", "hunter2pass"},
		{"PUBLIC_URL", "https://admin:hunter2pass@jobs.example.com", "hunter2pass"},
		{"PUBLIC_URL", "https://admin:hunter2pass@jobs.example.com:port", "hunter2pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv, _ := env(t, tt.name, tt.value)
			_, err := Load(getenv)
			if err == nil {
				t.Fatalf("Load accepted %s", tt.name)
			}
			if !strings.Contains(err.Error(), tt.name+": ") {
				t.Errorf("error does not name %s: %v", tt.name, err)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	const password = "hunter2pass"
	tests := []struct {
		name    string
		kv      []string
		want    []string
		notWant []string
	}{
		{
			name: "postgres",
			kv: []string{"JWT_SECRET", testSecret,
				"DATABASE_URL", "postgres://jobs_user:" + password + "@db.example.com:5432/jobsphere?sslmode=require&password=" + password},
			want:    []string{"database=postgres://db.example.com:5432/jobsphere", "realtime=postgres", "currency=usd", "fee_customer_bps=500", "auto_migrate=false"},
			notWant: []string{testSecret, password, "jobs_user", "sslmode"},
		},
		{
			name: "nats",
			kv: []string{"JWT_SECRET", testSecret, "DATABASE_URL", "postgres://db.example.com/jobsphere",
				"NATS_URL", "nats://jobs_user:" + password + "@nats-1:4222,nats://nats-2:4222"},
			want:    []string{"realtime=nats:nats-1:4222,nats-2:4222"},
			notWant: []string{password, "jobs_user"},
		},
		{
			name:    "embedded with generated secret",
			want:    []string{"database=sqlite:", "jobsphere.db", "realtime=memory", "env=development", "port=8080", "require_release_approval=true"},
			notWant: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv, _ := env(t, tt.kv...)
			c := mustLoad(t, getenv)
			summary := c.Summary()
			if len(summary)%2 != 0 {
				t.Fatalf("Summary has an odd number of elements: %v", summary)
			}
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", summary...)
			out := buf.String() + fmt.Sprint(summary...)
			if strings.Contains(out, "!BADKEY") {
				t.Errorf("Summary is not key/value pairs: %s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("summary lacks %q: %s", w, out)
				}
			}
			for _, nw := range append(tt.notWant, string(c.JWTSecret)) {
				if strings.Contains(out, nw) {
					t.Errorf("summary contains %q: %s", nw, out)
				}
			}
		})
	}
}

// stripeKeys are well-formed Stripe settings, which production requires.
var stripeKeys = []string{
	"STRIPE_SECRET_KEY", "sk_test_123", "STRIPE_PUBLISHABLE_KEY", "pk_test_123", "STRIPE_WEBHOOK_SECRET", "whsec_test",
}

func TestStripeSettings(t *testing.T) {
	getenv, _ := env(t)
	c := mustLoad(t, getenv)
	if !c.Sandbox() || c.StripeAPIBase != "https://api.stripe.com" || c.DepositSuccessURL != "http://localhost:8080/payments/return?result=success" {
		t.Fatalf("defaults: %+v", c)
	}
	getenv, _ = env(t, append([]string{"STRIPE_API_BASE", "http://127.0.0.1:12111/"}, stripeKeys...)...)
	c = mustLoad(t, getenv)
	if c.Sandbox() || c.StripeAPIBase != "http://127.0.0.1:12111" {
		t.Fatalf("stripe: %+v", c)
	}
	getenv, _ = env(t, "STRIPE_SECRET_KEY", "sk_test_123")
	_, err := Load(getenv)
	if err == nil || !strings.Contains(err.Error(), "STRIPE_PUBLISHABLE_KEY") || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET") {
		t.Fatalf("secret key alone: %v", err)
	}
	getenv, _ = env(t, "STRIPE_SECRET_KEY", "pk_oops_wrong_key")
	if _, err := Load(getenv); err == nil || strings.Contains(err.Error(), "pk_oops") {
		t.Fatalf("bad secret key: %v", err)
	}
}

func TestTracingSettings(t *testing.T) {
	const token = "s3cr3t-token"
	tests := []struct {
		name        string
		kv          []string
		endpoint    string
		service     string
		summary     string
		errContains []string
	}{
		{name: "off by default", endpoint: "", service: "jobsphere", summary: "tracing=off"},
		{
			name:     "base endpoint gets the traces path",
			kv:       []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/", "OTEL_SERVICE_NAME", "jobs-api"},
			endpoint: "http://collector:4318/v1/traces", service: "jobs-api", summary: "tracing=http://collector:4318",
		},
		{
			name: "the traces endpoint wins and is used as given",
			kv: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces.example.com/otlp?token=" + token,
				"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
			endpoint: "https://traces.example.com/otlp?token=" + token, service: "jobsphere", summary: "tracing=https://traces.example.com",
		},
		{
			name:     "OTEL_SDK_DISABLED",
			kv:       []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", "OTEL_SDK_DISABLED", "true"},
			endpoint: "", service: "jobsphere", summary: "tracing=off",
		},
		{
			name:     "exporter none",
			kv:       []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", "OTEL_TRACES_EXPORTER", "none"},
			endpoint: "", service: "jobsphere", summary: "tracing=off",
		},
		{
			name:     "settings meant for other services do not matter without an endpoint",
			kv:       []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_TRACES_EXPORTER", "zipkin"},
			endpoint: "", service: "jobsphere", summary: "tracing=off",
		},
		{
			name: "unsupported settings",
			kv: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317/" + token, "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc",
				"OTEL_TRACES_EXPORTER", "zipkin"},
			errContains: []string{"OTEL_EXPORTER_OTLP_ENDPOINT: must be an absolute http(s) URL", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_EXPORTER"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv, _ := env(t, tt.kv...)
			c, err := Load(getenv)
			if len(tt.errContains) > 0 {
				if err == nil {
					t.Fatal("Load accepted the settings")
				}
				for _, s := range tt.errContains {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error lacks %q: %v", s, err)
					}
				}
				if strings.Contains(err.Error(), token) {
					t.Errorf("error shows the endpoint: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.TracesEndpoint != tt.endpoint || c.ServiceName != tt.service {
				t.Errorf("TracesEndpoint, ServiceName = %q, %q; want %q, %q", c.TracesEndpoint, c.ServiceName, tt.endpoint, tt.service)
			}
			out := fmt.Sprint(c.Summary()...)
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", c.Summary()...)
			if !strings.Contains(buf.String(), tt.summary) {
				t.Errorf("summary lacks %q: %s", tt.summary, buf.String())
			}
			if strings.Contains(out+buf.String(), token) {
				t.Errorf("summary shows the endpoint's token: %s", buf.String())
			}
		})
	}
}

// TestHTTPHardeningSettings: body deadlines, upload limits and the
// metrics endpoint's guard: defaults, accepted values, refused values.
func TestHTTPHardeningSettings(t *testing.T) {
	getenv, _ := env(t)
	c := mustLoad(t, getenv)
	if c.MetricsAddr != "" || c.MetricsToken != "" || !c.MetricsOnAPIAddress() {
		t.Errorf("metrics defaults: addr %q, token set %v, on the API's address %v", c.MetricsAddr, c.MetricsToken != "", c.MetricsOnAPIAddress())
	}
	for _, tt := range []struct {
		kv   []string
		want bool
	}{
		{[]string{"METRICS_ADDR", "127.0.0.1:9090"}, false},
		{[]string{"METRICS_ADDR", ":0", "METRICS_TOKEN", "0123456789abcdef"}, false},
		{[]string{"METRICS_TOKEN", "0123456789abcdef"}, true},
		{append([]string{"APP_ENV", "production", "JWT_SECRET", testSecret}, stripeKeys...), false},
		{append([]string{"APP_ENV", "production", "JWT_SECRET", testSecret, "METRICS_TOKEN", "0123456789abcdef"}, stripeKeys...), true},
	} {
		getenv, _ := env(t, tt.kv...)
		if got := mustLoad(t, getenv).MetricsOnAPIAddress(); got != tt.want {
			t.Errorf("%v: MetricsOnAPIAddress %v, want %v", tt.kv, got, tt.want)
		}
	}
	if c.BodyReadTimeout != 30*time.Second || c.UploadMinRate != 64<<10 || c.UploadsPerHour != 30 || c.UploadQuotaBytes != 200<<20 {
		t.Errorf("defaults: BodyReadTimeout %s, UploadMinRate %d, UploadsPerHour %d, UploadQuotaBytes %d",
			c.BodyReadTimeout, c.UploadMinRate, c.UploadsPerHour, c.UploadQuotaBytes)
	}

	getenv, _ = env(t, "BODY_READ_TIMEOUT", "2s", "UPLOAD_MIN_RATE", "1024", "UPLOAD_LIMIT_PER_HOUR", "0", "UPLOAD_QUOTA_BYTES", "0")
	c = mustLoad(t, getenv)
	if c.BodyReadTimeout != 2*time.Second || c.UploadMinRate != 1024 || c.UploadsPerHour != 0 || c.UploadQuotaBytes != 0 {
		t.Errorf("set: BodyReadTimeout %s, UploadMinRate %d, UploadsPerHour %d, UploadQuotaBytes %d",
			c.BodyReadTimeout, c.UploadMinRate, c.UploadsPerHour, c.UploadQuotaBytes)
	}

	for _, tt := range []struct{ name, value, want string }{
		{"BODY_READ_TIMEOUT", "500ms", "between 1s and 1h"},
		{"BODY_READ_TIMEOUT", "2h", "between 1s and 1h"},
		{"BODY_READ_TIMEOUT", "30", `got "30"`},
		{"UPLOAD_MIN_RATE", "1023", "at least 1024"},
		{"UPLOAD_MIN_RATE", "fast", `got "fast"`},
		{"UPLOAD_LIMIT_PER_HOUR", "-1", "between 0 and"},
		{"UPLOAD_QUOTA_BYTES", "-1", "at least 0"},
		{"UPLOAD_QUOTA_BYTES", "200MB", `got "200MB"`},
		{"METRICS_ADDR", "9090", `got "9090"`},
		{"METRICS_ADDR", "localhost:http", `got "localhost:http"`},
		{"METRICS_ADDR", "[::1]:70000", `host:port`},
		{"METRICS_TOKEN", "short", "at least 16 characters"},
	} {
		getenv, _ := env(t, tt.name, tt.value)
		_, err := Load(getenv)
		if err == nil || !strings.Contains(err.Error(), tt.name+": ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%q: %v, want %q", tt.name, tt.value, err, tt.want)
		}
		if tt.name == "METRICS_TOKEN" && strings.Contains(err.Error(), tt.value) {
			t.Errorf("METRICS_TOKEN shown: %v", err)
		}
	}
}
