// A Go (grpc-go) client of the mesh's OMS.
//
// It runs the scenarios named on the command line (all by default) and prints
// one JSON line per scenario:
//
//	order    CreateOrder with an x-request-id, StreamCodes cut after the first
//	         block and resumed after the last block received, AcknowledgeBlocks,
//	         CloseOrder
//	errors   an order with a wrong GTIN check digit; the google.rpc.Status
//	         details (BadRequest, ErrorInfo) decoded with status.FromError
//	retry    concurrent CreateOrder calls on a channel with a stock gRPC
//	         retryPolicy: RESOURCE_EXHAUSTED / UNAVAILABLE are retried by grpc-go
//	reflect  GetOrder with no generated code: descriptors from server reflection
//
// Usage: emission-example-go [-oms HOST:PORT] [-token TOKEN] [scenario ...]
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	commonv1 "emission-mesh/examples/go/gen/emission/common/v1"
	omsv1 "emission-mesh/examples/go/gen/emission/oms/v1"
)

// serviceConfig is the stock gRPC retry policy (gRFC A6): grpc-go itself sends
// the call again on these codes, honouring the server's grpc-retry-pushback-ms.
const serviceConfig = `{
  "methodConfig": [{
    "name": [{"service": "emission.oms.v1.OmsService"}],
    "retryPolicy": {
      "maxAttempts": 5,
      "initialBackoff": "0.1s",
      "maxBackoff": "2s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["RESOURCE_EXHAUSTED", "UNAVAILABLE"]
    }
  }]
}`

type client struct {
	address  string
	token    string
	conn     *grpc.ClientConn
	oms      omsv1.OmsServiceClient
	attempts *attemptCounter
}

func newClient(address, token string) (*client, error) {
	counter := &attemptCounter{}
	conn, err := grpc.NewClient(address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithStatsHandler(counter),
	)
	if err != nil {
		return nil, err
	}
	return &client{address: address, token: token, conn: conn, oms: omsv1.NewOmsServiceClient(conn), attempts: counter}, nil
}

// outgoing adds the bearer token and, for calls that change state, an x-request-id.
func (c *client) outgoing(ctx context.Context, requestID string) context.Context {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	if requestID != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", requestID)
	}
	return ctx
}

func (c *client) create(ctx context.Context, spec *commonv1.OrderSpec, requestID string) (*omsv1.Order, error) {
	reply, err := c.oms.CreateOrder(c.outgoing(ctx, requestID), &omsv1.CreateOrderRequest{Order: spec})
	if err != nil {
		return nil, err
	}
	return reply.GetOrder(), nil
}

// stream receives blocks after afterBlock; with stopAfter > 0 it cancels the
// stream after that many blocks (a cut).
func (c *client) stream(ctx context.Context, orderID string, afterBlock uint32, stopAfter int) ([]*commonv1.CodeBlock, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s, err := c.oms.StreamCodes(c.outgoing(ctx, ""), &omsv1.StreamCodesRequest{OrderId: orderID, AfterBlock: afterBlock})
	if err != nil {
		return nil, err
	}
	var blocks []*commonv1.CodeBlock
	for {
		reply, err := s.Recv()
		if err != nil {
			// io.EOF: the server ended the stream OK, after the last block.
			if errors.Is(err, io.EOF) {
				return blocks, nil
			}
			return blocks, err
		}
		blocks = append(blocks, reply.GetBlock())
		if stopAfter > 0 && len(blocks) >= stopAfter {
			cancel()
			return blocks, nil
		}
	}
}

func (c *client) scenarioOrder(ctx context.Context, quantity uint32) (map[string]any, error) {
	requestID := "go-" + randomID()
	order, err := c.create(ctx, milkOrder(quantity, ""), requestID)
	if err != nil {
		return nil, err
	}
	// First stream: keep one block, then cut the stream.
	first, err := c.stream(ctx, order.GetOrderId(), 0, 1)
	if err != nil {
		return nil, err
	}
	// Resume after the highest block stored; the server sends the rest and ends OK after the last.
	resumeFrom := first[len(first)-1].GetSeq()
	rest, err := c.stream(ctx, order.GetOrderId(), resumeFrom, 0)
	if err != nil {
		return nil, err
	}
	blocks := append(first, rest...)
	var codes []string
	seqs := []uint32{}
	unique := map[string]bool{}
	for _, b := range blocks {
		seqs = append(seqs, b.GetSeq())
		for _, code := range b.GetCodes() {
			codes = append(codes, code)
			unique[code] = true
		}
	}
	last := blocks[len(blocks)-1]
	acked, err := c.oms.AcknowledgeBlocks(c.outgoing(ctx, "go-ack-"+randomID()),
		&omsv1.AcknowledgeBlocksRequest{OrderId: order.GetOrderId(), ThroughBlock: last.GetSeq()})
	if err != nil {
		return nil, err
	}
	closed, err := c.oms.CloseOrder(c.outgoing(ctx, "go-close-"+randomID()), &omsv1.CloseOrderRequest{OrderId: order.GetOrderId()})
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"scenario": "order", "orderId": order.GetOrderId(), "requestId": requestID, "ordered": quantity,
		"codes": len(codes), "uniqueCodes": len(unique), "blocks": seqs, "resumedAfter": resumeFrom, "lastBlock": last.GetLast(),
		"deliveredCodes": acked.GetOrder().GetDeliveredCodes(), "status": closed.GetOrder().GetStatus().String(),
	}, nil
}

func (c *client) scenarioErrors(ctx context.Context) (map[string]any, error) {
	// The check digit of this GTIN should be 5.
	_, err := c.create(ctx, milkOrder(5, "04600000000010"), "go-bad-"+randomID())
	if err == nil {
		return map[string]any{"scenario": "errors", "code": "OK"}, nil
	}
	out := decodeStatus(err)
	out["scenario"] = "errors"
	return out, nil
}

// scenarioRetry places calls orders at once; grpc-go retries any refusal itself.
func (c *client) scenarioRetry(ctx context.Context, calls int) (map[string]any, error) {
	before := c.attempts.attempts.Load()
	results := make([]string, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order, err := c.create(ctx, milkOrder(5, ""), fmt.Sprintf("go-retry-%d-%s", i, randomID()))
			if err != nil {
				results[i] = "error:" + decodeStatus(err)["code"].(string)
				return
			}
			results[i] = order.GetOrderId()
		}()
	}
	wg.Wait()
	failed := []string{}
	orders := map[string]bool{}
	for _, r := range results {
		if len(r) > 6 && r[:6] == "error:" {
			failed = append(failed, r)
		} else {
			orders[r] = true
		}
	}
	return map[string]any{
		"scenario": "retry", "calls": calls, "succeeded": calls - len(failed), "failed": failed,
		"distinctOrders": len(orders), "attempts": c.attempts.attempts.Load() - before,
	}, nil
}

// attemptCounter sees every attempt of every call: grpc-go calls a stats
// handler once per attempt, so more attempts than calls means retries.
type attemptCounter struct{ attempts atomic.Int64 }

func (a *attemptCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (a *attemptCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.Begin); ok {
		a.attempts.Add(1)
	}
}
func (a *attemptCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (a *attemptCounter) HandleConn(context.Context, stats.ConnStats) {}

func milkOrder(quantity uint32, gtin14 string) *commonv1.OrderSpec {
	if gtin14 == "" {
		gtin14 = gtin("0460" + randomDigits(9))
	}
	return &commonv1.OrderSpec{
		ProductGroup:      commonv1.ProductGroup_PRODUCT_GROUP_MILK,
		ReleaseMethodType: commonv1.ReleaseMethodType_RELEASE_METHOD_TYPE_PRODUCTION,
		ProductionOrderId: "po-" + gtin14,
		Products: []*commonv1.Product{{
			Gtin: gtin14, Quantity: quantity, TemplateId: 6,
			SerialNumberType: commonv1.SerialNumberType_SERIAL_NUMBER_TYPE_OPERATOR,
			CisType:          commonv1.CisType_CIS_TYPE_UNIT,
		}},
	}
}

// gtin appends the GS1 mod-10 check digit to a 13-digit body.
func gtin(body13 string) string {
	sum := 0
	for i := range len(body13) {
		d := int(body13[len(body13)-1-i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return fmt.Sprintf("%s%d", body13, (10-sum%10)%10)
}

func randomDigits(n int) string {
	out := make([]byte, n)
	for i := range out {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		out[i] = byte('0' + d.Int64())
	}
	return string(out)
}

func randomID() string { return randomDigits(16) }

func main() {
	oms := flag.String("oms", envOr("OMS_ADDR", "127.0.0.1:50051"), "OMS address")
	token := flag.String("token", envOr("EMISSION_TOKEN", "dev-apcs"), "bearer token of a line controller")
	quantity := flag.Uint("quantity", 2500, "codes to order (the order scenario)")
	calls := flag.Int("calls", 8, "concurrent calls (the retry scenario)")
	flag.Parse()
	scenarios := flag.Args()
	if len(scenarios) == 0 {
		scenarios = []string{"order", "errors", "retry", "reflect"}
	}

	c, err := newClient(*oms, *token)
	if err != nil {
		fail(err)
	}
	defer c.conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	orderID := ""
	for _, name := range scenarios {
		var result map[string]any
		switch name {
		case "order":
			result, err = c.scenarioOrder(ctx, uint32(*quantity))
			if err == nil {
				orderID = result["orderId"].(string)
			}
		case "errors":
			result, err = c.scenarioErrors(ctx)
		case "retry":
			result, err = c.scenarioRetry(ctx, *calls)
		case "reflect":
			if orderID == "" {
				var order *omsv1.Order
				if order, err = c.create(ctx, milkOrder(5, ""), "go-"+randomID()); err != nil {
					break
				}
				orderID = order.GetOrderId()
			}
			result, err = c.scenarioReflect(ctx, orderID)
		default:
			err = fmt.Errorf("unknown scenario %q", name)
		}
		if err != nil {
			fail(err)
		}
		line, _ := json.Marshal(result)
		fmt.Println(string(line))
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func fail(err error) {
	line, _ := json.Marshal(map[string]any{"error": decodeStatus(err)})
	fmt.Fprintln(os.Stderr, string(line))
	os.Exit(1)
}
