// Package audit is the record of admin actions: each is written by Record
// in the action's own database transaction, so it exists exactly when the
// action committed. The log is append-only (the database refuses to
// change or delete a row) and read newest first by Entries.
package audit

import (
	"context"
	"fmt"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/auditentry"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// The actions recorded.
const (
	ApproveRelease    = "APPROVE_RELEASE"
	ApproveWithdrawal = "APPROVE_WITHDRAWAL"
	RejectWithdrawal  = "REJECT_WITHDRAWAL"
	FreezeWallet      = "FREEZE_WALLET"
	UnfreezeWallet    = "UNFREEZE_WALLET"
	ResolveDispute    = "RESOLVE_DISPUTE"
	RefundDeposit     = "REFUND_DEPOSIT"
	RefundEscrow      = "REFUND_ESCROW"
	CancelJob         = "CANCEL_JOB"
	CreateAdmin       = "CREATE_ADMIN"
)

// Entry is one admin action: Actor did Action to Target, moving it from
// Before to After, for Reason. Empty strings are left out.
type Entry struct {
	Actor, Target         pulid.ID
	Action                string
	Before, After, Reason string
}

// Record writes e in tx, the transaction of the action, with the request
// id of ctx (WithRequestID).
func Record(ctx context.Context, tx *ent.Client, e Entry) error {
	err := tx.AuditEntry.Create().SetActorID(e.Actor).SetAction(e.Action).SetTargetID(e.Target).
		SetNillableBefore(optional(e.Before)).SetNillableAfter(optional(e.After)).
		SetNillableReason(optional(e.Reason)).SetNillableRequestID(optional(RequestID(ctx))).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("record %s of %s: %w", e.Action, e.Target, err)
	}
	return nil
}

// Filter narrows the log to one admin, one target, or both.
type Filter struct {
	ActorID, TargetID *pulid.ID
}

// Log reads the audit log.
type Log struct{ client *ent.Client }

// NewLog returns the reader of client's audit log.
func NewLog(client *ent.Client) *Log { return &Log{client: client} }

// Entries pages the log, newest first. The log is for admins: its one
// caller, Query.auditLog, is ADMIN-only at the schema's edge.
func (l *Log) Entries(ctx context.Context, f Filter, first *int, after *ent.Cursor) (*ent.AuditEntryConnection, error) {
	q := l.client.AuditEntry.Query()
	if f.ActorID != nil {
		q.Where(auditentry.ActorID(*f.ActorID))
	}
	if f.TargetID != nil {
		q.Where(auditentry.TargetID(*f.TargetID))
	}
	return q.Paginate(ctx, after, first, nil, nil, ent.WithAuditEntryOrder(&ent.AuditEntryOrder{
		Direction: entgql.OrderDirectionDesc, Field: ent.AuditEntryOrderFieldCreatedAt,
	}))
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request it serves.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the id WithRequestID put in ctx, or "" outside a request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
