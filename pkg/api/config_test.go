package api

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return "postgres://env"
		}
		return ""
	}
	c, err := ParseFlags(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":3000" || c.DatabaseURL != "postgres://env" || c.CacheMB != 1280 || !c.Prefill || c.MaxAge != 60 ||
		!slices.Equal(c.CORSOrigins, []string{"*"}) || c.AccessLog || c.ShutdownTimeout != 10*time.Second ||
		c.DBTimeout != 2*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	c, err = ParseFlags([]string{"--addr", "127.0.0.1:8080", "--database-url=postgres://flag", "--cache-mb", "0",
		"--max-age", "0", "--cors-origins", "https://a.example, https://b.example", "--access-log",
		"--shutdown-timeout", "3s", "--db-timeout", "500ms", "--db-max-conns", "3", "--db-workers", "2"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DatabaseURL != "postgres://flag" || c.CacheMB != 0 || c.MaxAge != 0 ||
		!slices.Equal(c.CORSOrigins, []string{"https://a.example", "https://b.example"}) || !c.AccessLog ||
		c.ShutdownTimeout != 3*time.Second || c.DBTimeout != 500*time.Millisecond || c.DBMaxConns != 3 || c.DBWorkers != 2 {
		t.Errorf("flags: %+v", c)
	}
	if _, err := ParseFlags([]string{"-h"}, env, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, args := range [][]string{{"--nope"}, {"extra"}, {"--cache-mb", "x"}} {
		if _, err := ParseFlags(args, env, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	for _, bad := range []Config{
		{},
		{DatabaseURL: "x", CacheMB: -1},
		{DatabaseURL: "x", MaxAge: -1},
		{DatabaseURL: "x", DBTimeout: -time.Second},
	} {
		if _, err := bad.check(); err == nil {
			t.Errorf("check(%+v): no error", bad)
		}
	}
	c, err = Config{DatabaseURL: "x"}.check()
	if err != nil || c.DBTimeout != 2*time.Second || c.ReadTimeout == 0 || c.Addr != ":3000" || c.Logger == nil || c.DBWorkers < 1 {
		t.Errorf("check fills defaults: %+v %v", c, err)
	}
	if c, _ = (Config{DatabaseURL: "x", DBMaxConns: 2, DBWorkers: 5}).check(); c.DBWorkers != 2 {
		t.Errorf("more workers (%d) than connections (2)", c.DBWorkers)
	}
}

func TestParseCartFlags(t *testing.T) {
	env := func(k string) string {
		switch k {
		case "DATABASE_URL":
			return "postgres://replica,primary/elier"
		case "ELIER_PRIMARY_URL":
			return "postgres://primary/elier"
		}
		return ""
	}
	c, err := ParseFlags(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.PrimaryURL != "postgres://primary/elier" || c.CartIdle != 30*24*time.Hour || len(c.TrustedProxies) != 2 ||
		c.CartGroupWait != 5*time.Millisecond || c.CartGroupBusy != 0.75 || c.Mlock {
		t.Errorf("defaults: %+v", c)
	}
	c, err = ParseFlags([]string{"--primary-url", "postgres://p2", "--cart-idle", "1h", "--cart-sweep", "5s",
		"--trusted-proxies", "10.0.0.0/8, 192.168.1.7", "--cart-group-wait", "2ms", "--cart-group-busy", "0", "--mlock"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.PrimaryURL != "postgres://p2" || c.CartIdle != time.Hour || c.CartSweep != 5*time.Second ||
		len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.168.1.7/32" ||
		c.CartGroupWait != 2*time.Millisecond || c.CartGroupBusy != 0 || !c.Mlock {
		t.Errorf("flags: %+v", c)
	}
	if c, _ = ParseFlags([]string{"--trusted-proxies", ""}, env, io.Discard); len(c.TrustedProxies) != 0 {
		t.Errorf("--trusted-proxies '': %v", c.TrustedProxies)
	}
	// Run checks the configuration (check): a negative wait is refused there.
	for _, b := range []string{"-0.1", "1.5"} {
		if c, err := ParseFlags([]string{"--cart-group-busy", b}, env, io.Discard); err != nil {
			t.Fatal(err)
		} else if _, err := c.check(); err == nil || !strings.Contains(err.Error(), "--cart-group-busy") {
			t.Errorf("--cart-group-busy %s: %v", b, err)
		}
	}
	if c, err := ParseFlags([]string{"--cart-group-wait", "-1ms"}, env, io.Discard); err != nil {
		t.Fatal(err)
	} else if _, err := c.check(); err == nil || !strings.Contains(err.Error(), "--cart-group-wait") {
		t.Errorf("--cart-group-wait -1ms: %v", err)
	}
	if _, err := ParseFlags([]string{"--trusted-proxies", "not-an-address"}, env, io.Discard); err == nil {
		t.Error("a bad --trusted-proxies is accepted")
	}
	// Without a primary of its own, the cart uses the database URL.
	if c, _ = (Config{DatabaseURL: "postgres://x"}).check(); c.PrimaryURL != "postgres://x" {
		t.Errorf("PrimaryURL %q", c.PrimaryURL)
	}
}
