package main

import (
	"context"
	"encoding/json"

	"github.com/jhump/protoreflect/grpcreflect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"
)

// scenarioReflect calls GetOrder with no generated code: the method's
// descriptors come from the server's reflection service, the messages are
// dynamicpb messages filled from and printed as JSON.
func (c *client) scenarioReflect(ctx context.Context, orderID string) (map[string]any, error) {
	refl := grpcreflect.NewClientAuto(ctx, c.conn)
	defer refl.Reset()
	service, err := refl.ResolveService("emission.oms.v1.OmsService")
	if err != nil {
		return nil, err
	}
	method := service.FindMethodByName("GetOrder").UnwrapMethod()
	request := dynamicpb.NewMessage(method.Input())
	if err := protojson.Unmarshal([]byte(`{"orderId":"`+orderID+`"}`), request); err != nil {
		return nil, err
	}
	reply := dynamicpb.NewMessage(method.Output())
	if err := c.conn.Invoke(c.outgoing(ctx, ""), "/emission.oms.v1.OmsService/GetOrder", request, reply); err != nil {
		return nil, err
	}
	text, err := protojson.Marshal(reply)
	if err != nil {
		return nil, err
	}
	var decoded map[string]any
	if err := json.Unmarshal(text, &decoded); err != nil {
		return nil, err
	}
	return map[string]any{"scenario": "reflect", "method": string(method.FullName()), "reply": decoded}, nil
}
