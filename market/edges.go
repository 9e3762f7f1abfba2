package market

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect/sql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/batch"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/dispute"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/media"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/review"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/settlementproposal"
)

// What a GraphQL object asks of the marketplace beyond its own columns: a
// job's offer, contract, applications and delivery, a contract's escrow,
// offer and dispute, a dispute's latest proposal, a message's attachments,
// a contractor's rating. Each is read for every object of the list the
// object came in, at once (package batch), with what the GraphQL
// selection asks of it in turn (CollectFields).

// LiveOffer is the job's pending or accepted offer, for its parties and
// admins; nil for anyone else.
func (s *Service) LiveOffer(ctx context.Context, v auth.Viewer, j *ent.Job) (*ent.Offer, error) {
	return batch.Load(ctx, "live offer", j, func(ctx context.Context, jobs []*ent.Job) ([]*ent.Offer, error) {
		offers, err := s.client.Offer.Query().
			Where(offer.StatusIn(offer.StatusPENDING, offer.StatusACCEPTED), OffersVisibleTo(v)).CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		loaded, err := s.jobsWith(ctx, jobs, func(q *ent.JobQuery) { q.WithOffers(func(q *ent.OfferQuery) { *q = *offers }) })
		if err != nil {
			return nil, fmt.Errorf("read live offers: %w", err)
		}
		return answers(jobs, func(j *ent.Job) *ent.Offer { return firstOf(loaded[j.ID].Offers) }), nil
	})
}

// ContractOfJob is the job's contract, for its parties and admins.
func (s *Service) ContractOfJob(ctx context.Context, v auth.Viewer, j *ent.Job) (*ent.Contract, error) {
	return batch.Load(ctx, "contract", j, func(ctx context.Context, jobs []*ent.Job) ([]*ent.Contract, error) {
		contracts, err := s.client.Contract.Query().Where(ContractsVisibleTo(v)).CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		loaded, err := s.jobsWith(ctx, jobs, func(q *ent.JobQuery) { q.WithContract(func(q *ent.ContractQuery) { *q = *contracts }) })
		if err != nil {
			return nil, fmt.Errorf("read contracts of jobs: %w", err)
		}
		return answers(jobs, func(j *ent.Job) *ent.Contract { return loaded[j.ID].Contract }), nil
	})
}

// Applications pages a job's applications: all of them for the job's
// customer and admins, a contractor's own for a contractor. A first page
// is read for every job of the list at once; a later one (after) for its
// job alone.
func (s *Service) Applications(ctx context.Context, v auth.Viewer, j *ent.Job, first *int, after *ent.Cursor) (*ent.JobApplicationConnection, error) {
	if after != nil || first == nil {
		return s.client.JobApplication.Query().Where(jobapplication.JobID(j.ID), ApplicationsVisibleTo(v)).
			Paginate(ctx, after, first, nil, nil)
	}
	return batch.Load(ctx, "applications", j, func(ctx context.Context, jobs []*ent.Job) ([]*ent.JobApplicationConnection, error) {
		apps, err := s.client.JobApplication.Query().Where(ApplicationsVisibleTo(v)).CollectFields(batch.Nodes(ctx))
		if err != nil {
			return nil, err
		}
		// One more than the page: whether there is a next page.
		perJob := entgql.LimitPerRow(jobapplication.JobColumn, *first+1, sql.ExprFunc(func(b *sql.Builder) { b.Ident(jobapplication.FieldID) }))
		loaded, err := s.jobsWith(ctx, jobs, func(q *ent.JobQuery) {
			q.WithApplications(func(q *ent.JobApplicationQuery) { *q = *apps; q.Modify(perJob) })
		})
		if err != nil {
			return nil, fmt.Errorf("read applications: %w", err)
		}
		var counts []struct {
			JobID pulid.ID `json:"job_id"`
			Count int      `json:"count"`
		}
		if err := s.client.JobApplication.Query().Where(jobapplication.JobIDIn(jobIDs(jobs)...), ApplicationsVisibleTo(v)).
			GroupBy(jobapplication.FieldJobID).Aggregate(ent.Count()).Scan(ctx, &counts); err != nil {
			return nil, fmt.Errorf("count applications: %w", err)
		}
		total := make(map[pulid.ID]int, len(counts))
		for _, c := range counts {
			total[c.JobID] = c.Count
		}
		return answers(jobs, func(j *ent.Job) *ent.JobApplicationConnection {
			return applicationPage(loaded[j.ID].Applications, *first, total[j.ID])
		}), nil
	})
}

// applicationPage is the first page of a job's applications: nodes are
// its first applications, one more when there is a next page.
func applicationPage(nodes []*ent.JobApplication, size, total int) *ent.JobApplicationConnection {
	slices.SortFunc(nodes, func(a, b *ent.JobApplication) int { return strings.Compare(string(a.ID), string(b.ID)) })
	conn := &ent.JobApplicationConnection{Edges: []*ent.JobApplicationEdge{}, TotalCount: total}
	if len(nodes) > size {
		conn.PageInfo.HasNextPage = true
		nodes = nodes[:size]
	}
	for _, n := range nodes {
		conn.Edges = append(conn.Edges, &ent.JobApplicationEdge{Node: n, Cursor: ent.Cursor{ID: n.ID}})
	}
	if l := len(conn.Edges); l > 0 {
		conn.PageInfo.StartCursor, conn.PageInfo.EndCursor = &conn.Edges[0].Cursor, &conn.Edges[l-1].Cursor
	}
	return conn
}

// Delivery returns a job's latest delivery for its parties and admins;
// nil for others and before a delivery.
func (s *Service) Delivery(ctx context.Context, v auth.Viewer, j *ent.Job) (*Delivery, error) {
	if j.DeliveredAt == nil || !maySeeDelivery(v, j) {
		return nil, nil
	}
	attachments, err := batch.Load(ctx, "delivery attachments", j, func(ctx context.Context, jobs []*ent.Job) ([][]*ent.Media, error) {
		return s.mediaInOrder(ctx, answers(jobs, func(j *ent.Job) []pulid.ID { return j.DeliveryMediaIds }))
	})
	if err != nil {
		return nil, fmt.Errorf("read attachments of job %s: %w", j.ID, err)
	}
	return &Delivery{Note: j.DeliveryNote, DeliveredAt: *j.DeliveredAt, Attachments: attachments}, nil
}

// EscrowOf is a contract's escrow, for the contract's parties: a
// contract is public through its reviews, the money in it is not.
func (s *Service) EscrowOf(ctx context.Context, v auth.Viewer, c *ent.Contract) (*ent.Escrow, error) {
	if !v.Is(c.CustomerID, c.ContractorID) {
		return nil, jobsphere.Errorf(jobsphere.Forbidden, "Only the contract's parties see its escrow")
	}
	if esc, err := c.Edges.EscrowOrErr(); err == nil && esc != nil {
		return esc, nil // loaded with the contract
	}
	esc, err := batch.Load(ctx, "escrow", c, func(ctx context.Context, contracts []*ent.Contract) ([]*ent.Escrow, error) {
		escrows, err := s.client.Escrow.Query().CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		loaded, err := s.contractsWith(ctx, contracts, func(q *ent.ContractQuery) { q.WithEscrow(func(q *ent.EscrowQuery) { *q = *escrows }) })
		if err != nil {
			return nil, fmt.Errorf("read escrows: %w", err)
		}
		return answers(contracts, func(c *ent.Contract) *ent.Escrow { return loaded[c.ID].Escrow }), nil
	})
	if err == nil && esc == nil {
		err = fmt.Errorf("contract %s has no escrow", c.ID)
	}
	return esc, err
}

// ContractOffer is a contract's offer, for the contract's parties.
func (s *Service) ContractOffer(ctx context.Context, v auth.Viewer, c *ent.Contract) (*ent.Offer, error) {
	if c.OfferID == nil || !v.Is(c.CustomerID, c.ContractorID) {
		return nil, nil
	}
	return batch.Load(ctx, "offer", c, func(ctx context.Context, contracts []*ent.Contract) ([]*ent.Offer, error) {
		offers, err := referenced(contracts, func(c *ent.Contract) *pulid.ID { return c.OfferID }, func(ids []pulid.ID) ([]*ent.Offer, error) {
			q, err := s.client.Offer.Query().Where(offer.IDIn(ids...)).CollectFields(ctx)
			if err != nil {
				return nil, err
			}
			return q.All(ctx)
		}, func(o *ent.Offer) pulid.ID { return o.ID })
		if err != nil {
			return nil, fmt.Errorf("read offers of contracts: %w", err)
		}
		return offers, nil
	})
}

// ContractDispute is a contract's open dispute, else its latest, for the
// contract's parties and admins; nil when it has none.
func (s *Service) ContractDispute(ctx context.Context, v auth.Viewer, c *ent.Contract) (*ent.Dispute, error) {
	if !v.Is(c.CustomerID, c.ContractorID) {
		return nil, nil
	}
	return batch.Load(ctx, "dispute", c, func(ctx context.Context, contracts []*ent.Contract) ([]*ent.Dispute, error) {
		// A contract has one open dispute at most, and it is its latest.
		disputes, err := s.client.Dispute.Query().Order(ent.Desc(dispute.FieldCreatedAt), ent.Desc(dispute.FieldID)).CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		loaded, err := s.contractsWith(ctx, contracts, func(q *ent.ContractQuery) { q.WithDisputes(func(q *ent.DisputeQuery) { *q = *disputes }) })
		if err != nil {
			return nil, fmt.Errorf("read disputes of contracts: %w", err)
		}
		return answers(contracts, func(c *ent.Contract) *ent.Dispute { return firstOf(loaded[c.ID].Disputes) }), nil
	})
}

// LatestProposal is a dispute's newest settlement proposal, if any.
func (s *Service) LatestProposal(ctx context.Context, d *ent.Dispute) (*ent.SettlementProposal, error) {
	if d.LatestProposalID == nil {
		return nil, nil
	}
	return batch.Load(ctx, "latest proposal", d, func(ctx context.Context, disputes []*ent.Dispute) ([]*ent.SettlementProposal, error) {
		proposals, err := referenced(disputes, func(d *ent.Dispute) *pulid.ID { return d.LatestProposalID }, func(ids []pulid.ID) ([]*ent.SettlementProposal, error) {
			q, err := s.client.SettlementProposal.Query().Where(settlementproposal.IDIn(ids...)).CollectFields(ctx)
			if err != nil {
				return nil, err
			}
			return q.All(ctx)
		}, func(p *ent.SettlementProposal) pulid.ID { return p.ID })
		if err != nil {
			return nil, fmt.Errorf("read settlement proposals: %w", err)
		}
		return proposals, nil
	})
}

// MessageAttachments are a dispute message's uploads, in their order.
func (s *Service) MessageAttachments(ctx context.Context, m *ent.DisputeMessage) ([]*ent.Media, error) {
	return batch.Load(ctx, "message attachments", m, func(ctx context.Context, messages []*ent.DisputeMessage) ([][]*ent.Media, error) {
		return s.mediaInOrder(ctx, answers(messages, func(m *ent.DisputeMessage) []pulid.ID { return m.MediaIds }))
	})
}

// Rating summarises the reviews a contractor received.
func (s *Service) Rating(ctx context.Context, u *ent.User) (*RatingSummary, error) {
	return batch.Load(ctx, "rating", u, func(ctx context.Context, users []*ent.User) ([]*RatingSummary, error) {
		var rows []struct {
			FreelancerID pulid.ID `json:"freelancer_id"`
			Count        int      `json:"count"`
			Average      float64  `json:"average"`
		}
		err := s.client.Review.Query().Where(review.FreelancerIDIn(answers(users, func(u *ent.User) pulid.ID { return u.ID })...)).GroupBy(review.FieldFreelancerID).
			Aggregate(ent.As(ent.Count(), "count"), ent.As(ent.Mean(review.FieldRating), "average")).Scan(ctx, &rows)
		if err != nil {
			return nil, fmt.Errorf("read ratings: %w", err)
		}
		byID := make(map[pulid.ID]*RatingSummary, len(rows))
		for _, r := range rows {
			byID[r.FreelancerID] = &RatingSummary{Average: r.Average, Count: r.Count}
		}
		return answers(users, func(u *ent.User) *RatingSummary {
			if r := byID[u.ID]; r != nil {
				return r
			}
			return &RatingSummary{}
		}), nil
	})
}

// mediaInOrder reads the uploads of each list of ids, in one query, each
// in the order of its ids (ids of files no longer there are left out).
func (s *Service) mediaInOrder(ctx context.Context, lists [][]pulid.ID) ([][]*ent.Media, error) {
	var ids []pulid.ID
	for _, l := range lists {
		ids = append(ids, l...)
	}
	var found map[pulid.ID]*ent.Media
	if len(ids) > 0 {
		records, err := s.client.Media.Query().Where(media.IDIn(ids...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read media: %w", err)
		}
		found = byID(records, func(m *ent.Media) pulid.ID { return m.ID })
	}
	return answers(lists, func(l []pulid.ID) []*ent.Media {
		out := []*ent.Media{}
		for _, id := range l {
			if m := found[id]; m != nil {
				out = append(out, m)
			}
		}
		return out
	}), nil
}

// jobsWith reads jobs again, by id and with the edges with asks for, and
// returns their edges by job: ent loads an edge for a list of its owners,
// whatever columns of theirs the GraphQL selection read.
func (s *Service) jobsWith(ctx context.Context, jobs []*ent.Job, with func(*ent.JobQuery)) (map[pulid.ID]ent.JobEdges, error) {
	q := s.client.Job.Query().Where(job.IDIn(jobIDs(jobs)...))
	q.Select(job.FieldID)
	with(q)
	loaded, err := q.All(ctx)
	edges := make(map[pulid.ID]ent.JobEdges, len(loaded))
	for _, j := range loaded {
		edges[j.ID] = j.Edges
	}
	return edges, err
}

// contractsWith is jobsWith for contracts.
func (s *Service) contractsWith(ctx context.Context, contracts []*ent.Contract, with func(*ent.ContractQuery)) (map[pulid.ID]ent.ContractEdges, error) {
	q := s.client.Contract.Query().Where(contract.IDIn(answers(contracts, func(c *ent.Contract) pulid.ID { return c.ID })...))
	q.Select(contract.FieldID)
	with(q)
	loaded, err := q.All(ctx)
	edges := make(map[pulid.ID]ent.ContractEdges, len(loaded))
	for _, c := range loaded {
		edges[c.ID] = c.Edges
	}
	return edges, err
}

func jobIDs(jobs []*ent.Job) []pulid.ID {
	return answers(jobs, func(j *ent.Job) pulid.ID { return j.ID })
}

// referenced answers, for each object, the one its ref names (nil for
// none): read reads them by their ids, id is their id.
func referenced[T, R any](objs []*T, ref func(*T) *pulid.ID, read func([]pulid.ID) ([]*R, error), id func(*R) pulid.ID) ([]*R, error) {
	var ids []pulid.ID
	for _, o := range objs {
		if r := ref(o); r != nil {
			ids = append(ids, *r)
		}
	}
	found, err := read(ids)
	if err != nil {
		return nil, err
	}
	byID := byID(found, id)
	return answers(objs, func(o *T) *R {
		if r := ref(o); r != nil {
			return byID[*r]
		}
		return nil
	}), nil
}

func byID[T any](objs []T, id func(T) pulid.ID) map[pulid.ID]T {
	m := make(map[pulid.ID]T, len(objs))
	for _, o := range objs {
		m[id(o)] = o
	}
	return m
}

// answers is answer's for each object, in their order.
func answers[T, R any](objs []T, answer func(T) R) []R {
	out := make([]R, len(objs))
	for i, o := range objs {
		out[i] = answer(o)
	}
	return out
}

func firstOf[T any](l []*T) *T {
	if len(l) == 0 {
		return nil
	}
	return l[0]
}
