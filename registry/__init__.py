"""Renkei registry layer (see docs/architecture.md and docs/registry.md).

Who owns which data: organisations (by 全国地方公共団体コード or 法人番号), datasets with the
membership rule that decides which entities they own, adapter registrations and their runs,
and the DCAT-AP catalogue. A pure model and decisions, a repository with all the SQL, and a
service layer that takes the repository as an argument.
"""

from registry.codes import (
    corporate_number_check_digit,
    is_corporate_number,
    is_local_government_code,
    is_prefecture_code,
    local_government_check_digit,
)
from registry.errors import Conflict, Duplicate, Invalid, NotFound, RegistryError
from registry.model import (
    LICENCES,
    AdapterRegistration,
    AdapterRun,
    Dataset,
    MembershipRule,
    Names,
    Organisation,
    OrgKind,
)
from registry.ownership import OwnershipIndex, check_no_overlap, overlapping
from registry.repository import RegistryRepository

__all__ = [
    "LICENCES",
    "AdapterRegistration",
    "AdapterRun",
    "Conflict",
    "Dataset",
    "Duplicate",
    "Invalid",
    "MembershipRule",
    "Names",
    "NotFound",
    "OrgKind",
    "Organisation",
    "OwnershipIndex",
    "RegistryError",
    "RegistryRepository",
    "check_no_overlap",
    "corporate_number_check_digit",
    "is_corporate_number",
    "is_local_government_code",
    "is_prefecture_code",
    "local_government_check_digit",
    "overlapping",
]
