"""The address policy: which addresses a fetch on a lead's behalf may connect to."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest
from prospectpro.providers import ProviderConfig
from prospectpro.providers.addresses import parse_networks, refusal

LOOPBACK_V4 = (ip_network("127.0.0.0/8"),)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.255", "CGNAT"),
        ("169.254.169.254", "link-local"),  # the cloud's metadata service
        ("fe80::1", "link-local"),
        ("fe80::1%2", "link-local"),
        ("fc00::1", "unique local"),
        ("fd00:ec2::254", "unique local"),  # the metadata service over IPv6 (AWS)
        ("fec0::1", "site-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.1.2.3", "not globally routable"),  # "this network"
        ("192.0.2.10", "not globally routable"),  # documentation
        ("198.18.0.1", "not globally routable"),  # benchmarking
        ("2001:db8::1", "not globally routable"),
        # IPv6 forms that reach an IPv4 address are judged by that address.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:100.64.0.1", "CGNAT"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:224.0.0.1", "multicast"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("::ffff:240.0.0.1", "reserved"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ],
)
def test_addresses_that_are_not_globally_routable_are_refused_by_kind(address, kind):
    assert refusal(ip_address(address)) == kind


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.215.14",
        "100.63.255.255",  # just below CGNAT
        "100.128.0.1",  # just above
        "172.15.255.255",  # around 172.16.0.0/12
        "172.32.0.1",
        "169.253.255.255",
        "2001:4860:4860::8888",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
        "2002:808:808::1",  # 6to4 of 8.8.8.8
    ],
)
def test_globally_routable_addresses_are_allowed(address):
    assert refusal(ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "allowed", "kind"),
    [
        ("127.0.0.1", LOOPBACK_V4, None),
        ("127.3.2.1", LOOPBACK_V4, None),
        ("::ffff:127.0.0.1", LOOPBACK_V4, None),  # the same address
        ("::1", LOOPBACK_V4, "loopback"),  # another one: IPv6's loopback
        ("10.0.0.1", LOOPBACK_V4, "private"),
        ("169.254.169.254", LOOPBACK_V4, "link-local"),
        ("10.20.0.5", (ip_network("10.20.0.0/16"),), None),
        ("10.21.0.5", (ip_network("10.20.0.0/16"),), "private"),
        ("fd12::5", (ip_network("fd12::/16"),), None),
    ],
)
def test_the_allow_list_admits_its_networks_and_nothing_else(address, allowed, kind):
    assert refusal(ip_address(address), allowed) == kind


def test_the_allow_list_comes_from_the_environment():
    config = ProviderConfig.from_env({"PROVIDER_ALLOW_NETWORKS": " 127.0.0.0/8, fd00::/8 ,,"})
    assert config.allow_networks == (ip_network("127.0.0.0/8"), ip_network("fd00::/8"))
    assert ProviderConfig.from_env({}).allow_networks == ()
    assert parse_networks("10.1.2.3") == (ip_network("10.1.2.3/32"),)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("10.0.0.1/8", "has host bits set"),
        ("localhost", "does not appear to be an IPv4 or IPv6 network"),
        ("127.0.0.0/33", "does not appear to be an IPv4 or IPv6 network"),
    ],
)
def test_an_allow_list_that_is_not_networks_is_refused_saying_why(raw, reason):
    with pytest.raises(ValueError, match=f"PROVIDER_ALLOW_NETWORKS: .*{reason}"):
        ProviderConfig.from_env({"PROVIDER_ALLOW_NETWORKS": f"127.0.0.0/8,{raw}"})
