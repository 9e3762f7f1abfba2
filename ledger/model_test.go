package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
)

// defaultModelSeed seeds TestLedgerAgainstReferenceModel; LEDGER_MODEL_SEED
// overrides it to replay or explore.
const defaultModelSeed uint64 = 0x1ed6e4_5eed

func modelSeed(t *testing.T) uint64 {
	t.Helper()
	s := os.Getenv("LEDGER_MODEL_SEED")
	if s == "" {
		return defaultModelSeed
	}
	seed, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("LEDGER_MODEL_SEED=%q: %v", s, err)
	}
	return seed
}

// modelOps is how many operations to run: 5,000 per database (about 10 s
// on SQLite and 20 s on PostgreSQL on two cores); 1,000 on PostgreSQL under
// -short; 1,500 under the race detector, which makes this sequential test
// (SQLite above all: the driver is Go) about fifteen times slower and has
// no races to find in it. LEDGER_MODEL_OPS overrides.
func modelOps(t *testing.T, db dbtest.Database) int {
	t.Helper()
	if s := os.Getenv("LEDGER_MODEL_OPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("LEDGER_MODEL_OPS=%q: want a positive count", s)
		}
		return n
	}
	switch {
	case modelRaceEnabled():
		return 1500
	case testing.Short() && db == dbtest.Postgres:
		return 1000
	}
	return 5000
}

func modelRaceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestLedgerAgainstReferenceModel posts thousands of random money movements
// (money taken back by the outside world and owed, deposits paying it back,
// platform losses among them), reversals, freezes and key replays, each in its own database transaction,
// and checks every modelOutcome and every wallet against a plain in-memory model
// of what the ledger documents.
func TestLedgerAgainstReferenceModel(t *testing.T) {
	seed := modelSeed(t)
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		ops := modelOps(t, db)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("seed %d: replay with LEDGER_MODEL_SEED=%d", seed, seed)
			}
		})
		r := newModelRun(t, newWorld(t, db), seed)
		for i := 1; i <= ops; i++ {
			r.step(i)
			if i%500 == 0 || i == ops {
				r.verify()
			}
		}
	})
}

// mWallet is the model of one wallet.
type mWallet struct {
	available, escrow, owed, earnings, spent, withdrawals int64
	adminFrozen                                           bool
}

// frozen: an admin froze it, or it owes (CHARGEBACK).
func (w *mWallet) frozen() bool { return w.adminFrozen || w.owed > 0 }

// mTxn is the model of one posted (committed) ledger transaction.
type mTxn struct {
	id       pulid.ID
	entry    ledger.Entry // as posted; for a reversal Key, Description and the reversed moves
	reversal *mTxn        // the transaction this one reverses, or nil
	reversed bool
	postedAt int // op number
	postedAs string
}

// refModel is the reference: what every balance must be.
type refModel struct {
	users                     []pulid.ID // customers then contractors
	wallets                   map[pulid.ID]*mWallet
	revenue, losses, external int64
	txns                      []*mTxn
	byKey                     map[string]*mTxn
}

// modelDelta is what one entry does to one wallet.
type modelDelta struct {
	available, escrow, owed, earnings, spent, withdrawals int64
}

// modelOutcome is what the model predicts for one entry: an error code, or
// success ("") with the changes.
type modelOutcome struct {
	code                      jobsphere.Code
	why                       string
	deltas                    map[pulid.ID]*modelDelta
	revenue, losses, external int64
}

// predict works out an entry from the ledger's documented rules: each move
// takes money from one account to another; lifetime totals follow who paid
// whom (money to another user: payer spent, payee earned; user to revenue:
// spent; revenue to user: unspent; user to the outside world in a
// WITHDRAWAL: withdrawn; the outside world to a user in a WITHDRAWAL:
// unwithdrawn), and a reversal undoes its original's totals. A debit of
// available money fails when the wallet is frozen (WALLET_FROZEN; not when
// forced: the outside world takes it) or cannot cover it
// (INSUFFICIENT_FUNDS); wallets are checked in user id order, the first
// refusal wins. A debit of a receivable makes the user owe; a credit of
// more than they owe, revenue below zero and losses above zero are
// INSUFFICIENT_FUNDS, like undoing what can no longer be undone (escrow
// or revenue that is gone).
func (m *refModel) predict(typ ledgertransaction.Type, reversal, forced bool, moves []ledger.Move) modelOutcome {
	o := modelOutcome{deltas: map[pulid.ID]*modelDelta{}}
	get := func(u pulid.ID) *modelDelta {
		if o.deltas[u] == nil {
			o.deltas[u] = &modelDelta{}
		}
		return o.deltas[u]
	}
	side := func(a ledger.Account, amt int64) {
		switch a.Kind {
		case ledgeraccount.KindAVAILABLE:
			get(a.UserID).available += amt
		case ledgeraccount.KindESCROW:
			get(a.UserID).escrow += amt
		case ledgeraccount.KindRECEIVABLE:
			get(a.UserID).owed -= amt
		case ledgeraccount.KindREVENUE:
			o.revenue += amt
		case ledgeraccount.KindLOSSES:
			o.losses += amt
		case ledgeraccount.KindEXTERNAL:
			o.external += amt
		}
	}
	for _, mv := range moves {
		side(mv.From, -mv.Amount)
		side(mv.To, mv.Amount)
		from, to, amt := mv.From, mv.To, mv.Amount
		if reversal { // the original move, undone
			from, to, amt = mv.To, mv.From, -mv.Amount
		}
		switch {
		case from.UserID != "" && to.UserID != "":
			if from.UserID != to.UserID {
				get(from.UserID).spent += amt
				get(to.UserID).earnings += amt
			}
		case from.UserID != "" && to.Kind == ledgeraccount.KindREVENUE:
			get(from.UserID).spent += amt
		case from.Kind == ledgeraccount.KindREVENUE && to.UserID != "":
			get(to.UserID).spent -= amt
		case from.UserID != "" && to.Kind == ledgeraccount.KindEXTERNAL && typ == ledgertransaction.TypeWITHDRAWAL:
			get(from.UserID).withdrawals += amt
		case from.Kind == ledgeraccount.KindEXTERNAL && to.UserID != "" && typ == ledgertransaction.TypeWITHDRAWAL:
			get(to.UserID).withdrawals -= amt
		}
	}
	users := make([]pulid.ID, 0, len(o.deltas))
	for u := range o.deltas {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		d, w := o.deltas[u], m.wallets[u]
		switch {
		case d.available < 0 && w.frozen() && !forced:
			o.code, o.why = jobsphere.WalletFrozen, fmt.Sprintf("%s is frozen and would pay %d", m.name(u), -d.available)
		case d.available < 0 && w.available+d.available < 0:
			o.code, o.why = jobsphere.InsufficientFunds, fmt.Sprintf("%s has %d available, needs %d", m.name(u), w.available, -d.available)
		case d.escrow < 0 && w.escrow+d.escrow < 0:
			o.code, o.why = jobsphere.InsufficientFunds, fmt.Sprintf("%s holds %d in escrow, needs %d", m.name(u), w.escrow, -d.escrow)
		case d.owed < 0 && w.owed+d.owed < 0:
			o.code, o.why = jobsphere.InsufficientFunds, fmt.Sprintf("%s owes %d, would pay back %d", m.name(u), w.owed, -d.owed)
		default:
			continue
		}
		return o
	}
	switch {
	case m.revenue+o.revenue < 0:
		o.code, o.why = jobsphere.InsufficientFunds, fmt.Sprintf("revenue holds %d, needs %d", m.revenue, -o.revenue)
	case m.losses+o.losses > 0:
		o.code, o.why = jobsphere.InsufficientFunds, fmt.Sprintf("losses are %d, %d would come back", -m.losses, o.losses)
	}
	return o
}

func (m *refModel) apply(o modelOutcome) {
	for u, d := range o.deltas {
		w := m.wallets[u]
		w.available += d.available
		w.escrow += d.escrow
		w.owed += d.owed
		w.earnings += d.earnings
		w.spent += d.spent
		w.withdrawals += d.withdrawals
	}
	m.revenue += o.revenue
	m.losses += o.losses
	m.external += o.external
}

func (m *refModel) name(u pulid.ID) string {
	i := slices.Index(m.users, u)
	if i < modelCustomers {
		return fmt.Sprintf("customer%d", i)
	}
	return fmt.Sprintf("contractor%d", i-modelCustomers)
}

const modelCustomers, modelContractors = 4, 3

// modelRun drives one database against the model.
type modelRun struct {
	t           *testing.T
	app         *world
	ctx         context.Context
	seed        uint64
	rng         *rand.Rand
	m           *refModel
	customers   []pulid.ID
	contractors []pulid.ID
	failed      []ledger.Entry // refused entries: their keys are still free
	op          int
	recent      []string // the last operations, for failure messages
	counts      map[string]int
}

func newModelRun(t *testing.T, app *world, seed uint64) *modelRun {
	r := &modelRun{
		t: t, app: app, ctx: context.Background(), seed: seed,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		m:      &refModel{wallets: map[pulid.ID]*mWallet{}, byKey: map[string]*mTxn{}},
		counts: map[string]int{},
	}
	for range modelCustomers {
		r.customers = append(r.customers, newUser(t, app, role.Customer))
	}
	for range modelContractors {
		r.contractors = append(r.contractors, newUser(t, app, role.Contractor))
	}
	r.m.users = slices.Concat(r.customers, r.contractors)
	for _, u := range r.m.users {
		r.m.wallets[u] = &mWallet{}
	}
	t.Cleanup(func() {
		if !t.Failed() {
			t.Logf("seed %d, %d operations: %v", seed, r.op, r.counts)
		}
	})
	r.compareWallets("setup")
	return r
}

func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	users := make([]string, len(r.m.users))
	for i, u := range r.m.users {
		users[i] = r.m.name(u) + "=" + string(u)
	}
	r.t.Fatalf("seed %d (LEDGER_MODEL_SEED=%d), operation #%d: %s\nlast operations:\n  %s\nusers: %s",
		r.seed, r.seed, r.op, fmt.Sprintf(format, args...), strings.Join(r.recent, "\n  "), strings.Join(users, ", "))
}

func (r *modelRun) log(s string) {
	r.recent = append(r.recent, fmt.Sprintf("#%d %s", r.op, s))
	if len(r.recent) > 12 {
		r.recent = r.recent[1:]
	}
}

func (r *modelRun) pick(ids []pulid.ID) pulid.ID { return ids[r.rng.IntN(len(ids))] }

// upTo is a random amount in 1..n (n ≥ 1).
func (r *modelRun) upTo(n int64) int64 { return 1 + r.rng.Int64N(n) }

// withEscrow picks a customer holding escrow, or "" when none does.
func (r *modelRun) withEscrow() pulid.ID {
	var held []pulid.ID
	for _, c := range r.customers {
		if r.m.wallets[c].escrow > 0 {
			held = append(held, c)
		}
	}
	if len(held) == 0 {
		return ""
	}
	return r.pick(held)
}

func modelMove(from, to ledger.Account, amount int64) ledger.Move {
	return ledger.Move{From: from, To: to, Amount: amount}
}

// step draws and checks operation number i.
func (r *modelRun) step(i int) {
	r.op = i
	key := fmt.Sprintf("op:%d", i)
	for {
		switch n := r.rng.IntN(111); {
		case n < 12: // deposit
			c := r.pick(r.customers)
			r.postNew("deposit", ledger.Entry{Key: key, Type: ledgertransaction.TypeDEPOSIT, Description: "card top-up",
				Moves: []ledger.Move{modelMove(ledger.External, ledger.Available(c), r.upTo(50_000))}})
		case n < 26: // hold, sometimes more than the customer has
			c := r.pick(r.customers)
			amount := r.upTo(max(r.m.wallets[c].available, 1))
			if r.rng.IntN(5) == 0 {
				amount = r.m.wallets[c].available + r.upTo(10_000)
			}
			r.postNew("hold", ledger.Entry{Key: key, Type: ledgertransaction.TypeESCROW_HOLD, Description: "offer hold",
				Moves: []ledger.Move{modelMove(ledger.Available(c), ledger.Escrow(c), amount)}})
		case n < 34: // release of (part of) a hold
			c := r.withEscrow()
			if c == "" {
				continue
			}
			r.postNew("release", ledger.Entry{Key: key, Type: ledgertransaction.TypeREFUND, Description: "offer withdrawn",
				Moves: []ledger.Move{modelMove(ledger.Escrow(c), ledger.Available(c), r.upTo(r.m.wallets[c].escrow))}})
		case n < 42: // platform fee
			c := r.withEscrow()
			if c == "" {
				continue
			}
			r.postNew("platform fee", ledger.Entry{Key: key, Type: ledgertransaction.TypePLATFORM_FEE, Description: "platform fee",
				Moves: []ledger.Move{modelMove(ledger.Escrow(c), ledger.Revenue, r.upTo(min(r.m.wallets[c].escrow, 5_000)))}})
		case n < 52: // payout, with the service fee in the same entry most times
			c := r.withEscrow()
			if c == "" {
				continue
			}
			k := r.pick(r.contractors)
			total := r.upTo(r.m.wallets[c].escrow)
			moves := []ledger.Move{modelMove(ledger.Escrow(c), ledger.Available(k), total)}
			if total >= 2 && r.rng.IntN(3) > 0 {
				fee := r.upTo(total - 1)
				moves = []ledger.Move{modelMove(ledger.Escrow(c), ledger.Available(k), total-fee), modelMove(ledger.Escrow(c), ledger.Revenue, fee)}
				if r.rng.IntN(2) == 0 {
					moves[0], moves[1] = moves[1], moves[0]
				}
			}
			r.postNew("payout", ledger.Entry{Key: key, Type: ledgertransaction.TypeCONTRACTOR_PAYOUT, Description: "contract completed", Moves: moves})
		case n < 60: // withdrawal, sometimes more than the contractor has
			k := r.pick(r.contractors)
			amount := r.upTo(max(r.m.wallets[k].available, 1))
			if r.rng.IntN(5) == 0 {
				amount = r.m.wallets[k].available + r.upTo(5_000)
			}
			r.postNew("withdrawal", ledger.Entry{Key: key, Type: ledgertransaction.TypeWITHDRAWAL, Description: "bank payout",
				Moves: []ledger.Move{modelMove(ledger.Available(k), ledger.External, amount)}})
		case n < 65: // fee refund: at most what revenue holds, often all of it
			if r.m.revenue <= 0 {
				continue
			}
			amount := r.m.revenue
			if r.rng.IntN(3) > 0 {
				amount = r.upTo(r.m.revenue)
			}
			r.postNew("fee refund", ledger.Entry{Key: key, Type: ledgertransaction.TypeREFUND, Description: "fee refunded",
				Moves: []ledger.Move{modelMove(ledger.Revenue, ledger.Available(r.pick(r.customers)), amount)}})
		case n < 68: // money taken back by the outside world: available first, the rest owed
			c := r.pick(r.customers)
			r.takeBack(c, key, r.upTo(r.m.wallets[c].available+20_000))
		case n < 71: // a deposit, paying back what is owed first
			c := r.pick(r.customers)
			if r.rng.IntN(3) > 0 {
				for _, other := range r.customers {
					if r.m.wallets[other].owed > 0 {
						c = other
					}
				}
			}
			r.creditFromOutside(c, key, r.upTo(30_000))
		case n < 73: // a receivable paid back directly, sometimes more than is owed
			c := r.pick(r.customers)
			amount := r.upTo(max(r.m.wallets[c].owed, 1))
			if r.rng.IntN(3) == 0 {
				amount = r.m.wallets[c].owed + r.upTo(1_000)
			}
			r.postNew("debt paid", ledger.Entry{Key: key, Type: ledgertransaction.TypeDEPOSIT, Description: "debt paid",
				Moves: []ledger.Move{modelMove(ledger.External, ledger.Receivable(c), amount)}})
		case n < 75: // a platform loss (a dispute fee)
			r.postNew("loss", ledger.Entry{Key: key, Type: ledgertransaction.TypeREFUND, Description: "dispute fee",
				Moves: []ledger.Move{modelMove(ledger.Losses, ledger.External, r.upTo(1_500))}})
		case n < 76: // a loss recovered, sometimes more than was lost
			amount := r.upTo(max(-r.m.losses, 1))
			if r.rng.IntN(3) == 0 {
				amount = -r.m.losses + r.upTo(500)
			}
			r.postNew("loss recovered", ledger.Entry{Key: key, Type: ledgertransaction.TypeREFUND, Description: "dispute fee returned",
				Moves: []ledger.Move{modelMove(ledger.External, ledger.Losses, amount)}})
		case n < 89: // reversal of any earlier transaction
			if len(r.m.txns) == 0 {
				continue
			}
			r.reverse(r.m.txns[r.rng.IntN(len(r.m.txns))], key)
		case n < 95: // freeze or unfreeze; at most one customer is frozen by an admin at a time
			c := r.pick(r.customers)
			for _, other := range r.customers {
				if r.m.wallets[other].adminFrozen {
					c = other
				}
			}
			r.toggleFreeze(c)
		case n < 101: // the same request again under a used key
			if len(r.m.txns) == 0 {
				continue
			}
			r.replay(r.m.txns[r.rng.IntN(len(r.m.txns))])
		case n < 106: // a different request under a used key
			if len(r.m.txns) < 2 {
				continue
			}
			r.conflict(r.m.txns[r.rng.IntN(len(r.m.txns))])
		default: // an entry refused earlier, tried again: its key is free
			if len(r.failed) == 0 {
				continue
			}
			j := r.rng.IntN(len(r.failed))
			e := r.failed[j]
			r.failed = slices.Delete(r.failed, j, j+1)
			r.postNew("retry "+e.Key, e)
		}
		break
	}
	r.compareWallets("after the operation")
}

func (r *modelRun) describe(kind string, e ledger.Entry) string {
	parts := make([]string, len(e.Moves))
	for i, mv := range e.Moves {
		parts[i] = fmt.Sprintf("%s → %s %d", r.account(mv.From), r.account(mv.To), mv.Amount)
	}
	return fmt.Sprintf("%s %s %s [%s]", kind, e.Key, e.Type, strings.Join(parts, ", "))
}

func (r *modelRun) account(a ledger.Account) string {
	if a.UserID == "" {
		return strings.ToLower(string(a.Kind))
	}
	return r.m.name(a.UserID) + ":" + strings.ToLower(string(a.Kind))
}

// check compares an operation's error with the prediction.
func (r *modelRun) check(what string, o modelOutcome, err error) {
	r.t.Helper()
	r.counts[fmt.Sprintf("%s→%s", strings.Fields(what)[0], modelOr(string(o.code), "ok"))]++
	switch {
	case o.code == "" && err != nil:
		r.fatalf("%s: model expects success, ledger says %v", what, err)
	case o.code != "" && err == nil:
		r.fatalf("%s: model expects %s (%s), ledger succeeded", what, o.code, o.why)
	case o.code != "" && jobsphere.ErrorCode(err) != o.code:
		r.fatalf("%s: model expects %s (%s), ledger says %s: %v", what, o.code, o.why, jobsphere.ErrorCode(err), err)
	}
}

func modelOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// postNew posts an entry under a key the model has not seen committed.
func (r *modelRun) postNew(kind string, e ledger.Entry) {
	r.t.Helper()
	what := r.describe(kind, e)
	if r.m.byKey[e.Key] != nil {
		r.fatalf("test bug: %s reuses a committed key", what)
	}
	o := r.m.predict(e.Type, false, e.Forced, e.Moves)
	r.log(what + " → " + modelOr(string(o.code), "ok"))
	p, err := post(r.t, r.app, e)
	r.posted(kind, what, e, o, p, err)
}

// posted checks the result of posting e, predicted o, and records it.
func (r *modelRun) posted(kind, what string, e ledger.Entry, o modelOutcome, p *ledger.Posted, err error) {
	r.t.Helper()
	r.check(what, o, err)
	if err != nil {
		r.failed = append(r.failed, e)
		if len(r.failed) > 50 {
			r.failed = r.failed[1:]
		}
		return
	}
	if p.Replayed {
		r.fatalf("%s: fresh key reported as replayed", what)
	}
	var sum int64
	for _, mv := range e.Moves {
		sum += mv.Amount
	}
	if tx := p.Transaction; tx.Type != e.Type || tx.Amount != sum || tx.Status != ledgertransaction.StatusCOMPLETED || tx.ReversalOfID != nil {
		r.fatalf("%s: posted transaction %+v", what, tx)
	}
	r.m.apply(o)
	r.record(&mTxn{id: p.Transaction.ID, entry: e, postedAt: r.op, postedAs: kind})
}

func (r *modelRun) record(txn *mTxn) {
	r.m.txns = append(r.m.txns, txn)
	r.m.byKey[txn.entry.Key] = txn
}

// reverse reverses orig under a fresh key.
func (r *modelRun) reverse(orig *mTxn, key string) {
	r.t.Helper()
	inverse := make([]ledger.Move, len(orig.entry.Moves))
	for i, mv := range orig.entry.Moves {
		inverse[i] = modelMove(mv.To, mv.From, mv.Amount)
	}
	what := fmt.Sprintf("reverse %s of #%d (%s)", key, orig.postedAt, r.describe(orig.postedAs, orig.entry))
	var o modelOutcome
	switch {
	case orig.reversal != nil:
		o = modelOutcome{code: jobsphere.Conflict, why: "a reversal cannot be reversed"}
	case orig.reversed:
		o = modelOutcome{code: jobsphere.Conflict, why: "already reversed"}
	default:
		o = r.m.predict(orig.entry.Type, true, false, inverse)
	}
	r.log(what + " → " + modelOr(string(o.code), "ok"))
	desc := "model reversal of " + orig.entry.Key
	p, err := r.callReverse(orig.id, key, desc)
	r.check(what, o, err)
	if err != nil {
		return
	}
	if p.Replayed {
		r.fatalf("%s: fresh key reported as replayed", what)
	}
	if p.Transaction.ReversalOfID == nil || *p.Transaction.ReversalOfID != orig.id || p.Transaction.Type != orig.entry.Type {
		r.fatalf("%s: reversal transaction %+v", what, p.Transaction)
	}
	if got, err := r.app.Client.LedgerTransaction.Get(r.ctx, orig.id); err != nil {
		r.t.Fatal(err)
	} else if got.Status != ledgertransaction.StatusREVERSED || got.ReversalOfID != nil {
		r.fatalf("%s: afterwards the original has status %s and reversal_of_id %v; want REVERSED and none (it is not itself a reversal)",
			what, got.Status, modelPtr(got.ReversalOfID))
	}
	r.m.apply(o)
	orig.reversed = true
	r.record(&mTxn{id: p.Transaction.ID, entry: ledger.Entry{Key: key, Type: orig.entry.Type, Description: desc, Moves: inverse},
		reversal: orig, postedAt: r.op, postedAs: "reversal"})
}

// callReverse runs Reverse in its own database transaction.
func (r *modelRun) callReverse(txnID pulid.ID, key, desc string) (*ledger.Posted, error) {
	r.t.Helper()
	tx, err := r.app.Client.Tx(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := r.app.Ledger.Reverse(r.ctx, tx.Client(), txnID, key, desc)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return p, tx.Commit()
}

// takeBack posts amount taken back from c by the outside world
// (Ledger.TakeBack): the model splits it as the ledger documents.
func (r *modelRun) takeBack(c pulid.ID, key string, amount int64) {
	r.t.Helper()
	w := r.m.wallets[c]
	fromAvailable := min(amount, w.available)
	e := ledger.Entry{Key: key, Type: ledgertransaction.TypeREFUND, Description: "refunded at Stripe", Forced: true,
		Moves: modelSplit(modelMove(ledger.Available(c), ledger.External, fromAvailable), modelMove(ledger.Receivable(c), ledger.External, amount-fromAvailable))}
	r.viaSplit("take back", e, func(tx *ent.Client, e ledger.Entry) (*ledger.Posted, error) {
		return r.app.Ledger.TakeBack(r.ctx, tx, c, amount, e)
	})
}

// creditFromOutside posts amount coming in to c (Ledger.CreditFromOutside):
// what c owes is paid back first.
func (r *modelRun) creditFromOutside(c pulid.ID, key string, amount int64) {
	r.t.Helper()
	w := r.m.wallets[c]
	payBack := min(amount, w.owed)
	e := ledger.Entry{Key: key, Type: ledgertransaction.TypeDEPOSIT, Description: "card top-up",
		Moves: modelSplit(modelMove(ledger.External, ledger.Receivable(c), payBack), modelMove(ledger.External, ledger.Available(c), amount-payBack))}
	r.viaSplit("deposit paying back", e, func(tx *ent.Client, e ledger.Entry) (*ledger.Posted, error) {
		return r.app.Ledger.CreditFromOutside(r.ctx, tx, c, amount, e)
	})
}

// viaSplit runs post (a ledger call that splits the entry itself) in its
// own transaction and checks it as if e, the model's split, was posted.
func (r *modelRun) viaSplit(kind string, e ledger.Entry, post func(*ent.Client, ledger.Entry) (*ledger.Posted, error)) {
	r.t.Helper()
	what := r.describe(kind, e)
	o := r.m.predict(e.Type, false, e.Forced, e.Moves)
	r.log(what + " → " + modelOr(string(o.code), "ok"))
	tx, err := r.app.Client.Tx(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	asked := e
	asked.Moves = nil
	p, err := post(tx.Client(), asked)
	if err != nil {
		_ = tx.Rollback()
	} else {
		err = tx.Commit()
	}
	r.posted(kind, what, e, o, p, err) // compareWallets then sees whether the split was the model's
}

func modelSplit(moves ...ledger.Move) []ledger.Move {
	return slices.DeleteFunc(moves, func(m ledger.Move) bool { return m.Amount == 0 })
}

// toggleFreeze freezes c for ADMIN or lifts that freeze; lifting a freeze
// that is only CHARGEBACK (c owes) is CONFLICT.
func (r *modelRun) toggleFreeze(c pulid.ID) {
	r.t.Helper()
	w := r.m.wallets[c]
	what := fmt.Sprintf("freeze %s", r.m.name(c))
	note := new(string)
	*note = "model review"
	var o modelOutcome
	if w.adminFrozen || (w.owed > 0 && r.rng.IntN(3) == 0) {
		what, note = fmt.Sprintf("unfreeze %s", r.m.name(c)), nil
		if !w.adminFrozen {
			o = modelOutcome{code: jobsphere.Conflict, why: "frozen for CHARGEBACK only"}
		}
	}
	frozen, err := r.app.Ledger.SetAdminFreeze(r.ctx, r.app.Client, c, note)
	r.log(what + " → " + modelOr(string(o.code), "ok"))
	r.check(what, o, err)
	if err == nil {
		w.adminFrozen = note != nil
	}
	if frozen != w.frozen() {
		r.fatalf("%s: ledger says frozen %v afterwards, model %v", what, frozen, w.frozen())
	}
}

// replay sends a committed transaction's request again: the first result,
// nothing new.
func (r *modelRun) replay(txn *mTxn) {
	r.t.Helper()
	what := fmt.Sprintf("replay of #%d %s", txn.postedAt, r.describe(txn.postedAs, txn.entry))
	r.log(what)
	var p *ledger.Posted
	var err error
	if txn.reversal != nil {
		p, err = r.callReverse(txn.reversal.id, txn.entry.Key, txn.entry.Description)
	} else {
		p, err = post(r.t, r.app, txn.entry)
	}
	r.check(what, modelOutcome{}, err)
	if !p.Replayed || p.Transaction.ID != txn.id {
		r.fatalf("%s: got transaction %s replayed=%v, want %s replayed", what, p.Transaction.ID, p.Replayed, txn.id)
	}
}

// conflict sends a different request under a committed transaction's key:
// CONFLICT, nothing changes.
func (r *modelRun) conflict(txn *mTxn) {
	r.t.Helper()
	var err error
	var what string
	switch {
	case txn.reversal != nil: // reverse another transaction under this reversal's key
		other := txn.reversal
		for other == txn.reversal {
			other = r.m.txns[r.rng.IntN(len(r.m.txns))]
		}
		what = fmt.Sprintf("reverse #%d under the key of #%d %s", other.postedAt, txn.postedAt, txn.entry.Key)
		r.log(what)
		_, err = r.callReverse(other.id, txn.entry.Key, txn.entry.Description)
	default:
		e := txn.entry
		e.Moves = slices.Clone(e.Moves)
		switch r.rng.IntN(3) {
		case 0:
			e.Moves[0].Amount++
		case 1:
			e.Moves[len(e.Moves)-1].Amount = max(1, e.Moves[len(e.Moves)-1].Amount/2+r.rng.Int64N(3)-1)
			if slices.Equal(e.Moves, txn.entry.Moves) {
				e.Moves[0].Amount++
			}
		default:
			e.Description += " (edited)"
		}
		what = r.describe("changed request", e)
		r.log(what)
		_, err = post(r.t, r.app, e)
	}
	r.check(what, modelOutcome{code: jobsphere.Conflict, why: "key used for a different request"}, err)
}

// compareWallets checks every wallet in the database against the model.
func (r *modelRun) compareWallets(when string) {
	r.t.Helper()
	ws, err := r.app.Client.Wallet.Query().All(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	if len(ws) != len(r.m.wallets) {
		r.fatalf("%s: %d wallets in the database, model has %d", when, len(ws), len(r.m.wallets))
	}
	for _, w := range ws {
		mw := r.m.wallets[w.UserID]
		if mw == nil {
			r.fatalf("%s: wallet of unknown user %s", when, w.UserID)
		}
		got := mWallet{w.Balance, w.EscrowBalance, w.AmountOwed, w.TotalEarnings, w.TotalSpent, w.TotalWithdrawals, w.FrozenNote != nil}
		if got != *mw || w.PendingDeposits != 0 || w.IsFrozen != mw.frozen() {
			r.fatalf("%s: wallet of %s is %+v (pending %d, frozen %v), model says %+v (frozen %v)",
				when, r.m.name(w.UserID), got, w.PendingDeposits, w.IsFrozen, *mw, mw.frozen())
		}
	}
}

// verify runs the ledger's own verification and compares its totals with
// the model.
func (r *modelRun) verify() {
	r.t.Helper()
	rep := requireVerified(r.t, r.app)
	var available, escrow, owed int64
	postings := 0
	for _, w := range r.m.wallets {
		available += w.available
		escrow += w.escrow
		owed += w.owed
	}
	for _, txn := range r.m.txns {
		postings += 2 * len(txn.entry.Moves)
	}
	if rep.Revenue != r.m.revenue || rep.External != r.m.external || rep.Available != available || rep.Escrow != escrow ||
		rep.Receivable != -owed || rep.Losses != r.m.losses || rep.Transactions != len(r.m.txns) || rep.Postings != postings {
		r.fatalf("verify report %+v; model: revenue %d, losses %d, external %d, available %d, escrow %d, owed %d, %d transactions, %d postings",
			*rep, r.m.revenue, r.m.losses, r.m.external, available, escrow, owed, len(r.m.txns), postings)
	}
}

func modelPtr[T ~string](p *T) string {
	if p == nil {
		return "<nil>"
	}
	return string(*p)
}
