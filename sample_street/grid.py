"""The grid of the sample street: Liangcheng Xincun's 1-4-27-60 tree, as plain data.

Area names are plausible rather than an official list. Micro-grids are numbered across
the street in tree order; District 1 has three areas so that Wenyuan No.1 holds mg07,
the grid the contract uses as its example path (`lc/d2/wy1/mg07`).
"""

from __future__ import annotations

from dataclasses import dataclass

STREET = ("lc", "凉城新村街道", "Liangcheng Xincun Street")

# district id, name, English name, areas: (id, name, English name, property company key)
DISTRICTS: tuple[tuple[str, str, str, tuple[tuple[str, str, str, str], ...]], ...] = (
    ("d1", "第一片区", "District 1", (
        ("lc1", "凉城一村", "Liangcheng No.1 Village", "hf"),
        ("lc2", "凉城二村", "Liangcheng No.2 Village", "hf"),
        ("lc3", "凉城三村", "Liangcheng No.3 Village", "hf"),
    )),
    ("d2", "第二片区", "District 2", (
        ("wy1", "文苑一村", "Wenyuan No.1", "wy"),
        ("wy2", "文苑二村", "Wenyuan No.2", "wy"),
        ("xiuy", "秀苑", "Xiuyuan", "wy"),
        ("jiny", "锦苑", "Jinyuan", "wy"),
        ("xiny", "馨苑", "Xinyuan", "fx"),
        ("liy", "丽苑", "Liyuan", "fx"),
        ("lc4", "凉城四村", "Liangcheng No.4 Village", "hf"),
        ("gl2", "广灵二路", "Guangling Road No.2", "lc"),
    )),
    ("d3", "第三片区", "District 3", (
        ("fd", "复旦", "Fudan", "fx"),
        ("gl1", "广灵一路", "Guangling Road No.1", "lc"),
        ("gl4", "广灵四路", "Guangling Road No.4", "lc"),
        ("czn", "车站南路", "Chezhan South Road", "lc"),
        ("sd", "水电路", "Shuidian Road", "hf"),
        ("sm", "三门路", "Sanmen Road", "lc"),
        ("wa", "万安路", "Wan'an Road", "lc"),
        ("fz", "丰镇路", "Fengzhen Road", "hf"),
    )),
    ("d4", "第四片区", "District 4", (
        ("xj", "西江湾路", "Xijiangwan Road", "fx"),
        ("lcl", "凉城路", "Liangcheng Road", "lc"),
        ("ws", "汶水东路", "Wenshui East Road", "fx"),
        ("cz", "场中路", "Changzhong Road", "hf"),
        ("yh", "逸虹苑", "Yihong Garden", "fx"),
        ("ha", "华安苑", "Hua'an Garden", "wy"),
        ("hy", "华苑", "Huayuan", "wy"),
        ("xl", "新乐苑", "Xinle Garden", "lc"),
    )),
)

# The larger areas get a third micro-grid: 27 * 2 + 6 = 60.
THREE_MICRO_GRIDS = frozenset({"wy1", "xiuy", "fd", "czn", "lcl", "hy"})


@dataclass(frozen=True, slots=True)
class AreaPlan:
    id: str
    name: str
    name_en: str
    district: str  # district id
    property_key: str  # key into the property companies
    index: int  # position in the street, 0-based
    micro: tuple[str, ...]  # micro-grid ids, e.g. ("mg07", "mg08", "mg09")

    @property
    def path(self) -> str:
        return f"{STREET[0]}/{self.district}/{self.id}"

    def micro_path(self, micro_id: str) -> str:
        return f"{self.path}/{micro_id}"

    @property
    def agent(self) -> str:
        return f"{self.id}-edge"


def plan_areas() -> list[AreaPlan]:
    areas: list[AreaPlan] = []
    next_micro = 1
    for district, _name, _name_en, members in DISTRICTS:
        for area_id, name, name_en, prop in members:
            count = 3 if area_id in THREE_MICRO_GRIDS else 2
            micro = tuple(f"mg{n:02d}" for n in range(next_micro, next_micro + count))
            next_micro += count
            areas.append(AreaPlan(area_id, name, name_en, district, prop, len(areas), micro))
    return areas


def _micro_node(micro_id: str) -> dict[str, object]:
    number = int(micro_id[2:])
    return {"id": micro_id, "name": f"第{number}微网格", "name_en": f"Micro-grid {number:02d}"}


def grid_tree(areas: list[AreaPlan]) -> dict[str, object]:
    """The `street:` section: street -> districts -> areas -> micro-grids."""
    districts = []
    for district, name, name_en, _members in DISTRICTS:
        children = [
            {
                "id": a.id,
                "name": a.name,
                "name_en": a.name_en,
                "children": [_micro_node(m) for m in a.micro],
            }
            for a in areas
            if a.district == district
        ]
        districts.append({"id": district, "name": name, "name_en": name_en, "children": children})
    street_id, street_name, street_en = STREET
    return {"id": street_id, "name": street_name, "name_en": street_en, "children": districts}
