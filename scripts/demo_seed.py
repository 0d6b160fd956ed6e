"""Seed moto with a small account for scripts/demo.

Usage: demo_seed.py ENDPOINT baseline|change
  baseline: two regions, a few volumes and snapshots, one shared with a partner.
  change:   what an attacker (and a busy Tuesday) would do between two scans.
"""
import sys

import boto3

ENDPOINT, PHASE = sys.argv[1], sys.argv[2]
PARTNER, ATTACKER = "111122223333", "999988887777"


def ec2(region):
    return boto3.client("ec2", region_name=region, endpoint_url=ENDPOINT,
                        aws_access_key_id="demo", aws_secret_access_key="demo")


def snapshots(client):
    return sorted(s["SnapshotId"] for s in client.describe_snapshots(OwnerIds=["self"])["Snapshots"])


if PHASE == "baseline":
    for region, count in (("us-east-1", 6), ("eu-west-1", 4)):
        client = ec2(region)
        volume = client.create_volume(Size=20, AvailabilityZone=region + "a")["VolumeId"]
        for i in range(count):
            client.create_snapshot(VolumeId=volume, Description=f"nightly {i}",
                                   TagSpecifications=[{"ResourceType": "snapshot",
                                                       "Tags": [{"Key": "team", "Value": "payments"}]}])
    east = ec2("us-east-1")
    east.modify_snapshot_attribute(SnapshotId=snapshots(east)[0], Attribute="createVolumePermission",
                                   OperationType="add", UserIds=[PARTNER])
elif PHASE == "change":
    east, west = ec2("us-east-1"), ec2("eu-west-1")
    ids = snapshots(east)
    east.modify_snapshot_attribute(SnapshotId=ids[1], Attribute="createVolumePermission",
                                   OperationType="add", UserIds=[ATTACKER])
    east.modify_snapshot_attribute(SnapshotId=ids[2], Attribute="createVolumePermission",
                                   OperationType="add", GroupNames=["all"])
    for snapshot_id in snapshots(west)[:2]:
        west.delete_snapshot(SnapshotId=snapshot_id)
    volume = east.describe_volumes()["Volumes"][0]["VolumeId"]
    east.create_snapshot(VolumeId=volume, Description="copy for export")
    east.create_tags(Resources=[ids[3]], Tags=[{"Key": "team", "Value": "unknown"}])
else:
    sys.exit(f"unknown phase {PHASE}")
