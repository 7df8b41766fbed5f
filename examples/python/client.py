"""A Python (grpcio) client of the mesh's OMS.

Runs the scenarios named on the command line (all by default) and prints one
JSON line per scenario:

  order    CreateOrder with an x-request-id, StreamCodes cut after the first
           block and resumed after the last block received, AcknowledgeBlocks,
           CloseOrder
  errors   an order with a wrong GTIN check digit; the google.rpc.Status
           details (BadRequest, ErrorInfo) decoded with grpcio-status
  retry    concurrent CreateOrder calls on a channel with a stock gRPC
           retryPolicy: RESOURCE_EXHAUSTED / UNAVAILABLE are retried by grpcio
  reflect  GetOrder with no generated code: descriptors from server reflection

Usage: python client.py [--oms HOST:PORT] [--token TOKEN] [scenario ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

# The stubs scripts/install-examples.sh generated from proto/emission.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from google.protobuf import json_format, message_factory  # noqa: E402
from google.protobuf.descriptor_pool import DescriptorPool  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (  # noqa: E402
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status  # noqa: E402

from emission.common.v1 import order_pb2, status_pb2  # noqa: E402
from emission.oms.v1 import oms_pb2, oms_pb2_grpc  # noqa: E402

# The stock gRPC retry policy (gRFC A6): grpcio itself sends the call again on
# these codes, honouring the server's grpc-retry-pushback-ms.
SERVICE_CONFIG = json.dumps({
    "methodConfig": [{
        "name": [{"service": "emission.oms.v1.OmsService"}],
        "retryPolicy": {
            "maxAttempts": 5,
            "initialBackoff": "0.1s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["RESOURCE_EXHAUSTED", "UNAVAILABLE"],
        },
    }],
})


def open_channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=[
        ("grpc.enable_retries", 1),
        ("grpc.service_config", SERVICE_CONFIG),
        # Channelz counts attempts per subchannel, so the retry scenario can tell.
        ("grpc.enable_channelz", 1),
    ])


def gtin(body13: str) -> str:
    """A GTIN-14 with its GS1 mod-10 check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


def milk_order(quantity: int, gtin14: str | None = None) -> order_pb2.OrderSpec:
    g = gtin14 or gtin("0460" + "".join(random.choice("0123456789") for _ in range(9)))
    return order_pb2.OrderSpec(
        product_group=order_pb2.PRODUCT_GROUP_MILK,
        release_method_type=order_pb2.RELEASE_METHOD_TYPE_PRODUCTION,
        production_order_id=f"po-{g}",
        products=[order_pb2.Product(
            gtin=g, quantity=quantity, template_id=6,
            serial_number_type=order_pb2.SERIAL_NUMBER_TYPE_OPERATOR,
            cis_type=order_pb2.CIS_TYPE_UNIT,
        )],
    )


class Client:
    def __init__(self, address: str, token: str) -> None:
        self.address = address
        self.token = token
        self.channel = open_channel(address)
        self.oms = oms_pb2_grpc.OmsServiceStub(self.channel)

    def metadata(self, request_id: str | None = None) -> list[tuple[str, str]]:
        md = [("authorization", f"Bearer {self.token}")]
        if request_id is not None:
            md.append(("x-request-id", request_id))
        return md

    def create(self, spec: order_pb2.OrderSpec, request_id: str) -> oms_pb2.Order:
        reply = self.oms.CreateOrder(oms_pb2.CreateOrderRequest(order=spec), metadata=self.metadata(request_id), timeout=30)
        return reply.order

    def stream(self, order_id: str, after_block: int, stop_after: int | None) -> list[order_pb2.CodeBlock]:
        """Blocks after `after_block`; cancels the stream after `stop_after` blocks (a cut)."""
        call = self.oms.StreamCodes(oms_pb2.StreamCodesRequest(order_id=order_id, after_block=after_block),
                                    metadata=self.metadata(), timeout=60)
        blocks = []
        for reply in call:
            blocks.append(reply.block)
            if stop_after is not None and len(blocks) >= stop_after:
                call.cancel()
                break
        return blocks

    def scenario_order(self, quantity: int) -> dict:
        request_id = f"py-{uuid.uuid4()}"
        order = self.create(milk_order(quantity), request_id)
        # First stream: keep one block, then cut the stream.
        first = self.stream(order.order_id, 0, stop_after=1)
        # Resume after the highest block stored; the server sends the rest and ends OK after the last.
        resume_from = first[-1].seq
        rest = self.stream(order.order_id, resume_from, stop_after=None)
        blocks = first + rest
        codes = [c for b in blocks for c in b.codes]
        last = blocks[-1]
        acked = self.oms.AcknowledgeBlocks(oms_pb2.AcknowledgeBlocksRequest(order_id=order.order_id, through_block=last.seq),
                                           metadata=self.metadata(f"py-ack-{uuid.uuid4()}"), timeout=30).order
        closed = self.oms.CloseOrder(oms_pb2.CloseOrderRequest(order_id=order.order_id),
                                     metadata=self.metadata(f"py-close-{uuid.uuid4()}"), timeout=30).order
        return {
            "scenario": "order", "orderId": order.order_id, "requestId": request_id, "ordered": quantity,
            "codes": len(codes), "uniqueCodes": len(set(codes)), "blocks": [b.seq for b in blocks],
            "resumedAfter": resume_from, "lastBlock": last.last,
            "deliveredCodes": acked.delivered_codes, "status": status_pb2.OrderStatus.Name(closed.status),
        }

    def scenario_errors(self) -> dict:
        bad = milk_order(5, gtin14="04600000000010")  # the check digit should be 5
        try:
            self.create(bad, f"py-bad-{uuid.uuid4()}")
        except grpc.RpcError as call:
            return {"scenario": "errors", **decode_status(call)}
        return {"scenario": "errors", "code": "OK"}

    def scenario_retry(self, calls: int) -> dict:
        """`calls` CreateOrder at once; the client library retries any refusal itself."""
        def one(i: int) -> str:
            try:
                return self.create(milk_order(5), f"py-retry-{i}-{uuid.uuid4()}").order_id
            except grpc.RpcError as call:
                return f"error:{call.code().name}"

        before = attempts()
        with ThreadPoolExecutor(max_workers=calls) as pool:
            results = list(pool.map(one, range(calls)))
        after = attempts()
        failed = [r for r in results if r.startswith("error:")]
        return {"scenario": "retry", "calls": calls, "succeeded": len(results) - len(failed), "failed": failed,
                "distinctOrders": len({r for r in results if not r.startswith("error:")}), "attempts": after["attempts"] - before["attempts"]}

    def scenario_reflect(self, order_id: str) -> dict:
        """GetOrder with descriptors fetched from the server: no generated code involved."""
        with grpc.insecure_channel(self.address) as channel:
            pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
            method = pool.FindServiceByName("emission.oms.v1.OmsService").FindMethodByName("GetOrder")
            request_class = message_factory.GetMessageClass(method.input_type)
            response_class = message_factory.GetMessageClass(method.output_type)
            call = channel.unary_unary("/emission.oms.v1.OmsService/GetOrder",
                                       request_serializer=request_class.SerializeToString,
                                       response_deserializer=response_class.FromString)
            reply = call(json_format.ParseDict({"orderId": order_id}, request_class()), metadata=self.metadata(), timeout=30)
            return {"scenario": "reflect", "method": method.full_name, "reply": json_format.MessageToDict(reply)}


def decode_status(call: grpc.RpcError) -> dict:
    """The google.rpc.Status of a failed call (grpc-status-details-bin), details unpacked."""
    out: dict = {"code": call.code().name, "message": call.details(), "fieldViolations": [], "errorInfo": None}
    status = rpc_status.from_call(call)
    if status is None:
        return out
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out["fieldViolations"] += [{"field": v.field, "description": v.description} for v in bad.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            out["errorInfo"] = {"reason": info.reason, "domain": info.domain, "step": info.metadata.get("step")}
    return out


def attempts() -> dict:
    """Calls and attempts on this process's channels, from grpcio's channelz data
    (what grpcio-channelz serves, read in-process): a subchannel counts every
    attempt, so more attempts than calls means grpcio retried."""
    from grpc._cython import cygrpc  # where grpcio keeps channelz; grpcio-channelz reads it the same way

    calls = tries = 0
    for channel in json.loads(cygrpc.channelz_get_top_channels(0)).get("channel", []):
        calls += int(channel.get("data", {}).get("callsStarted", 0))
        for ref in channel.get("subchannelRef", []):
            sub = json.loads(cygrpc.channelz_get_subchannel(int(ref["subchannelId"])))["subchannel"]
            tries += int(sub.get("data", {}).get("callsStarted", 0))
    return {"calls": calls, "attempts": tries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oms", default=os.environ.get("OMS_ADDR", "127.0.0.1:50051"))
    parser.add_argument("--token", default=os.environ.get("EMISSION_TOKEN", "dev-apcs"))
    parser.add_argument("--quantity", type=int, default=2500, help="codes to order (the order scenario)")
    parser.add_argument("--calls", type=int, default=8, help="concurrent calls (the retry scenario)")
    parser.add_argument("scenarios", nargs="*", default=["order", "errors", "retry", "reflect"])
    args = parser.parse_args()

    client = Client(args.oms, args.token)
    order_id = None
    for name in args.scenarios:
        if name == "order":
            result = client.scenario_order(args.quantity)
            order_id = result["orderId"]
        elif name == "errors":
            result = client.scenario_errors()
        elif name == "retry":
            result = client.scenario_retry(args.calls)
        elif name == "reflect":
            if order_id is None:
                order_id = client.create(milk_order(5), f"py-{uuid.uuid4()}").order_id
            result = client.scenario_reflect(order_id)
        else:
            parser.error(f"unknown scenario {name!r}")
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
