"""Intune data, generated deterministically from (scenario seed, tenant id, index), so a tenant with 50,000 devices
needs no file and any page can be produced on its own.

Shapes follow Microsoft's documented v1.0 samples (graph/samples); every property emitted exists in Graph's v1.0
schema (a test checks it against the CSDL). Device attributes are drawn in a fixed order, so the cheap tally that
feeds the overview and compliance summary sees exactly the devices the list serves.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from atlas_sim.scenario import DeviceSpec, SimTenant

NEVER = "9999-12-31T23:59:59Z"
# Compliant devices have no grace period; Graph reports the far-future sentinel above.

_MODELS: dict[str, Sequence[tuple[str, str]]] = {
    "Windows": (("Latitude 7440", "Dell Inc."), ("ThinkPad T14 Gen 4", "LENOVO"),
                ("Surface Laptop 5", "Microsoft Corporation"), ("HP EliteBook 840 G10", "HP"),
                ("OptiPlex 7010", "Dell Inc.")),
    "iOS": (("iPhone 15", "Apple"), ("iPhone 14", "Apple"), ("iPad Air (5th generation)", "Apple"),
            ("iPhone SE (3rd generation)", "Apple")),
    "Android": (("Galaxy S23", "samsung"), ("Pixel 8", "Google"), ("Galaxy A54 5G", "samsung"),
                ("moto g84 5G", "motorola")),
    "macOS": (("MacBook Pro (14-inch, 2023)", "Apple"), ("MacBook Air (M2, 2022)", "Apple"),
              ("iMac (24-inch)", "Apple")),
}
_VERSIONS: dict[str, Sequence[str]] = {
    "Windows": ("10.0.22631.4317", "10.0.22631.4460", "10.0.26100.2314", "10.0.19045.5011"),
    "iOS": ("17.6.1", "18.0.1", "18.1", "17.5.1"),
    "Android": ("14", "13", "15", "12"),
    "macOS": ("14.7", "15.1", "14.6.1", "13.7"),
}
_NAME_PREFIX = {"Windows": "LT", "iOS": "IPHONE", "Android": "ANDROID", "macOS": "MAC"}
_FIRST = ("Adele", "Alex", "Allan", "Diego", "Grady", "Henrietta", "Isaiah", "Johanna", "Joni", "Lee", "Lidia",
          "Lynne", "Megan", "Miriam", "Nestor", "Patti", "Pradeep")
_LAST = ("Vance", "Wilber", "Deyoung", "Siciliani", "Archie", "Mueller", "Langer", "Lorenz", "Sherman", "Gu",
         "Holloway", "Robbins", "Bowen", "Graham", "Wilke", "Fernandez", "Gupta")

_CONFIGURATION_TYPES = (
    ("windows10GeneralConfiguration", "Windows 10/11 - Device restrictions"),
    ("windows10EndpointProtectionConfiguration", "Windows 10/11 - Endpoint protection"),
    ("windowsUpdateForBusinessConfiguration", "Windows Update ring - Broad"),
    ("iosGeneralDeviceConfiguration", "iOS/iPadOS - Device restrictions"),
    ("androidWorkProfileGeneralDeviceConfiguration", "Android Enterprise - Work profile restrictions"),
    ("macOSGeneralDeviceConfiguration", "macOS - Device restrictions"),
    ("windows10CustomConfiguration", "Windows 10/11 - Custom OMA-URI"),
    ("iosDeviceFeaturesConfiguration", "iOS/iPadOS - Device features"),
)
_COMPLIANCE_TYPES = (
    ("windows10CompliancePolicy", "Windows 10/11 compliance"),
    ("iosCompliancePolicy", "iOS/iPadOS compliance"),
    ("androidWorkProfileCompliancePolicy", "Android work profile compliance"),
    ("macOSCompliancePolicy", "macOS compliance"),
    ("androidCompliancePolicy", "Android device administrator compliance"),
)
_APPS = (
    ("win32LobApp", "7-Zip", "Igor Pavlov"),
    ("windowsMicrosoftEdgeApp", "Microsoft Edge for Windows", "Microsoft Corporation"),
    ("iosStoreApp", "Microsoft Authenticator", "Microsoft Corporation"),
    ("androidStoreApp", "Microsoft Teams", "Microsoft Corporation"),
    ("webApp", "Company intranet", "Contoso IT"),
    ("iosStoreApp", "Intune Company Portal", "Microsoft Corporation"),
    ("win32LobApp", "Adobe Acrobat Reader", "Adobe Inc."),
    ("macOSMicrosoftEdgeApp", "Microsoft Edge for macOS", "Microsoft Corporation"),
    ("androidStoreApp", "Microsoft Outlook", "Microsoft Corporation"),
    ("win32LobApp", "Zoom Workplace", "Zoom Communications, Inc."),
    ("managedIOSStoreApp", "Microsoft OneDrive", "Microsoft Corporation"),
    ("microsoftStoreForBusinessApp", "Microsoft To Do", "Microsoft Corporation"),
)


def _pick(rng: random.Random, weights: Sequence[tuple[str, float]]) -> str:
    total = sum(w for _, w in weights)
    point = rng.random() * total
    for name, weight in weights:
        point -= weight
        if point < 0:
            return name
    return weights[-1][0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DeviceTraits:
    """The attributes the summaries count; drawn first, in this order, for every device."""

    operating_system: str
    compliance_state: str
    owner_type: str
    management_agent: str


def _traits(rng: random.Random, spec: DeviceSpec) -> DeviceTraits:
    operating_system = _pick(rng, spec.operating_systems)
    compliance = _pick(rng, spec.compliance)
    owner = _pick(rng, spec.ownership)
    co_managed = operating_system == "Windows" and rng.random() < 0.15
    agent = "configurationManagerClientMdm" if co_managed else "mdm"
    return DeviceTraits(operating_system, compliance, owner, agent)


class IntuneData:
    """One tenant's Intune objects for one simulator run (``reference`` anchors every relative timestamp)."""

    def __init__(self, tenant: SimTenant, seed: int, reference: datetime) -> None:
        self.tenant = tenant
        self.seed = seed
        self.reference = reference
        self.spec = tenant.intune.devices
        label = "".join(ch for ch in tenant.display_name.upper() if ch.isalnum())[:8]
        self._prefix = label or "DEVICE"

    def _rng(self, kind: str, index: int) -> random.Random:
        return random.Random(f"{self.seed}:{self.tenant.id}:{kind}:{index}")

    # -- devices ----------------------------------------------------------------------------------------------

    @property
    def device_count(self) -> int:
        return self.spec.count

    def device(self, index: int) -> dict[str, Any]:
        """The full managedDevice ``index`` (0-based), in the documented sample's property order."""
        rng = self._rng("device", index)
        traits = _traits(rng, self.spec)
        os_name = traits.operating_system
        model, manufacturer = rng.choice(_MODELS[os_name])
        user = rng.randrange(max(1, self.spec.count // 2 + 1))
        first, last = _FIRST[user % len(_FIRST)], _LAST[(user // len(_FIRST)) % len(_LAST)]
        upn = f"{first.lower()}.{last.lower()}{user}@{self.tenant.default_domain}"
        enrolled = self.reference - timedelta(days=rng.randint(20, 900), seconds=rng.randint(0, 86_399))
        stale = traits.compliance_state in ("noncompliant", "unknown") and rng.random() < 0.5
        last_sync = self.reference - timedelta(hours=rng.randint(24 * 8, 24 * 60) if stale else rng.randint(0, 72),
                                               seconds=rng.randint(0, 3599))
        encrypted = rng.random() * 100 < self.spec.encrypted_percent
        grace = (_iso(self.reference + timedelta(days=rng.randint(1, 7)))
                 if traits.compliance_state == "inGracePeriod" else NEVER)
        serial = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(12))
        exchange = {"compliant": "allowed", "inGracePeriod": "allowed", "noncompliant": "blocked"}.get(
            traits.compliance_state, "unknown")
        mobile = os_name in ("iOS", "Android")
        storage = rng.choice((128, 256, 512)) * 1024**3
        device_id = _uuid(rng)
        return {
            "@odata.type": "#microsoft.graph.managedDevice",
            "id": device_id,
            "userId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"atlas-sim:user:{self.tenant.id}:{user}")),
            "deviceName": f"{self._prefix}-{_NAME_PREFIX[os_name]}-{index:05d}",
            "managedDeviceOwnerType": traits.owner_type,
            "deviceActionResults": [],
            "enrolledDateTime": _iso(enrolled),
            "lastSyncDateTime": _iso(last_sync),
            "operatingSystem": os_name,
            "complianceState": traits.compliance_state,
            "jailBroken": "False" if mobile else "Unknown",
            "managementAgent": traits.management_agent,
            "osVersion": rng.choice(_VERSIONS[os_name]),
            "easActivated": mobile,
            "easDeviceId": serial if mobile else "",
            "easActivationDateTime": _iso(enrolled) if mobile else "0001-01-01T00:00:00Z",
            "azureADRegistered": True,
            "deviceEnrollmentType": "windowsAzureADJoin" if os_name == "Windows" else "userEnrollment",
            "activationLockBypassCode": None,
            "emailAddress": upn,
            "azureADDeviceId": _uuid(rng),
            "deviceRegistrationState": "registered",
            "deviceCategoryDisplayName": "Unknown",
            "isSupervised": os_name == "iOS" and traits.owner_type == "company",
            "exchangeLastSuccessfulSyncDateTime": "0001-01-01T00:00:00Z",
            "exchangeAccessState": exchange,
            "exchangeAccessStateReason": "compliant" if exchange == "allowed" else (
                "notCompliant" if exchange == "blocked" else "unknown"),
            "remoteAssistanceSessionUrl": None,
            "remoteAssistanceSessionErrorDetails": None,
            "isEncrypted": encrypted,
            "userPrincipalName": upn,
            "model": model,
            "manufacturer": manufacturer,
            "imei": "".join(str(rng.randrange(10)) for _ in range(15)) if mobile else "",
            "complianceGracePeriodExpirationDateTime": grace,
            "serialNumber": serial,
            "phoneNumber": None,
            "androidSecurityPatchLevel": "2024-10-01" if os_name == "Android" else "",
            "userDisplayName": f"{first} {last}",
            "configurationManagerClientEnabledFeatures": None,
            "wiFiMacAddress": ":".join(f"{rng.randrange(256):02X}" for _ in range(6)),
            "deviceHealthAttestationState": None,
            "subscriberCarrier": "",
            "meid": "",
            "totalStorageSpaceInBytes": storage,
            "freeStorageSpaceInBytes": int(storage * rng.uniform(0.1, 0.8)),
            "managedDeviceName": f"{first}_{os_name}_{enrolled:%m/%d/%Y_%I:%M %p}",
            "partnerReportedThreatState": "unknown",
            "requireUserEnrollmentApproval": None,
            "managementCertificateExpirationDate": _iso(enrolled + timedelta(days=365)),
            "iccid": None,
            "udid": None,
            "notes": None,
            "ethernetMacAddress": None,
            "physicalMemoryInBytes": 0,
        }

    def device_traits(self, index: int) -> DeviceTraits:
        return _traits(self._rng("device", index), self.spec)

    # -- summaries --------------------------------------------------------------------------------------------

    def tally(self) -> Counter[str]:
        """Counts over every device: ``os:<name>``, ``state:<complianceState>``, ``agent:<managementAgent>``."""
        return _tally(self.tenant.id, self.seed, self.spec)

    def overview(self) -> dict[str, Any]:
        counts = self.tally()
        total = self.spec.count
        allowed = counts["state:compliant"] + counts["state:inGracePeriod"]
        blocked = counts["state:noncompliant"]
        return {
            "@odata.type": "#microsoft.graph.managedDeviceOverview",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"atlas-sim:managedDeviceOverview:{self.tenant.id}")),
            "enrolledDeviceCount": total,
            "mdmEnrolledCount": total,
            "dualEnrolledDeviceCount": counts["agent:configurationManagerClientMdm"],
            "deviceOperatingSystemSummary": {
                "@odata.type": "microsoft.graph.deviceOperatingSystemSummary",
                "androidCount": counts["os:Android"],
                "iosCount": counts["os:iOS"],
                "macOSCount": counts["os:macOS"],
                "windowsMobileCount": 0,
                "windowsCount": counts["os:Windows"],
                "unknownCount": 0,
                "androidDedicatedCount": 0,
                "androidDeviceAdminCount": 0,
                "androidFullyManagedCount": 0,
                "androidWorkProfileCount": counts["os:Android"],
                "androidCorporateWorkProfileCount": 0,
                "configMgrDeviceCount": counts["agent:configurationManagerClientMdm"],
            },
            "deviceExchangeAccessStateSummary": {
                "@odata.type": "microsoft.graph.deviceExchangeAccessStateSummary",
                "allowedDeviceCount": allowed,
                "blockedDeviceCount": blocked,
                "quarantinedDeviceCount": 0,
                "unknownDeviceCount": total - allowed - blocked,
                "unavailableDeviceCount": 0,
            },
        }

    def compliance_summary(self) -> dict[str, Any]:
        counts = self.tally()
        return {
            "@odata.type": "#microsoft.graph.deviceCompliancePolicyDeviceStateSummary",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"atlas-sim:complianceSummary:{self.tenant.id}")),
            "inGracePeriodCount": counts["state:inGracePeriod"],
            "configManagerCount": counts["state:configManager"],
            "unknownDeviceCount": counts["state:unknown"],
            "notApplicableDeviceCount": 0,
            "compliantDeviceCount": counts["state:compliant"],
            "remediatedDeviceCount": 0,
            "nonCompliantDeviceCount": counts["state:noncompliant"],
            "errorDeviceCount": counts["state:error"],
            "conflictDeviceCount": counts["state:conflict"],
        }

    # -- policies and apps ------------------------------------------------------------------------------------

    def configuration(self, index: int) -> dict[str, Any]:
        return self._policy("configuration", index, _CONFIGURATION_TYPES)

    def compliance_policy(self, index: int) -> dict[str, Any]:
        return self._policy("compliance", index, _COMPLIANCE_TYPES)

    def _policy(self, kind: str, index: int, types: Sequence[tuple[str, str]]) -> dict[str, Any]:
        rng = self._rng(kind, index)
        type_name, title = types[index % len(types)]
        created = self.reference - timedelta(days=rng.randint(60, 1000))
        modified = created + timedelta(days=rng.randint(0, 59))
        round_ = index // len(types)
        return {
            "@odata.type": f"#microsoft.graph.{type_name}",
            "id": _uuid(rng),
            "lastModifiedDateTime": _iso(modified),
            "createdDateTime": _iso(created),
            "description": f"Baseline managed by the service desk ({kind} {index + 1}).",
            "displayName": title if round_ == 0 else f"{title} ({round_ + 1})",
            "version": rng.randint(1, 12),
        }

    def mobile_app(self, index: int) -> dict[str, Any]:
        rng = self._rng("app", index)
        type_name, name, publisher = _APPS[index % len(_APPS)]
        round_ = index // len(_APPS)
        created = self.reference - timedelta(days=rng.randint(30, 1200))
        return {
            "@odata.type": f"#microsoft.graph.{type_name}",
            "id": _uuid(rng),
            "displayName": name if round_ == 0 else f"{name} ({round_ + 1})",
            "description": f"{name}, deployed by the service desk.",
            "publisher": publisher,
            "largeIcon": None,
            "createdDateTime": _iso(created),
            "lastModifiedDateTime": _iso(created + timedelta(days=rng.randint(0, 29))),
            "isFeatured": rng.random() < 0.2,
            "privacyInformationUrl": None,
            "informationUrl": None,
            "owner": "",
            "developer": "",
            "notes": "",
            "publishingState": "published",
        }


@lru_cache(maxsize=64)
def _tally(tenant_id: str, seed: int, spec: DeviceSpec) -> Counter[str]:
    counts: Counter[str] = Counter()
    for index in range(spec.count):
        traits = _traits(random.Random(f"{seed}:{tenant_id}:device:{index}"), spec)
        counts[f"os:{traits.operating_system}"] += 1
        counts[f"state:{traits.compliance_state}"] += 1
        counts[f"agent:{traits.management_agent}"] += 1
    return counts


def reference_time() -> datetime:
    """The hour a simulator started: timestamps stay stable for its lifetime and look recent."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
