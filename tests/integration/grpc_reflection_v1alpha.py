"""Discovers sluice's gRPC API with Python's grpcio-reflection client, which
speaks only grpc.reflection.v1alpha (as older grpcurl, Postman and Evans do).

Usage: grpc_reflection_v1alpha.py HOST:PORT

Prints one JSON line (the services, the methods of sluice.v1.Ingestions and
the input type of CreateIngestion) and then "ok"; any failure raises.
"""

import json
import sys

import grpc
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main():
    target = sys.argv[1]
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        ingestions = pool.FindServiceByName("sluice.v1.Ingestions")
        methods = [m.name for m in ingestions.methods]
        create = ingestions.FindMethodByName("CreateIngestion")
        print(
            json.dumps(
                {
                    "services": services,
                    "ingestions_methods": methods,
                    "create_input": create.input_type.full_name,
                }
            )
        )
    print("ok")


if __name__ == "__main__":
    main()
