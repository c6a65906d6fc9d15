-- The demo pool (002) and its demo recusals (003) belong to Jining (济宁), the city whose
-- reform the system follows: the experts work in Jining hospitals, and no two demo experts
-- share a name (two 刘玉兰 and two 何红霞 were confusing on a panel list).
-- Each UPDATE touches a demo row only while it still holds the value 002/003 gave it, so an
-- operator's later edits are kept.

UPDATE experts AS e SET hospital = v.hospital
FROM (VALUES
    ('EXP-001', '济南市第四人民医院', '兖州区人民医院'),
    ('EXP-002', '济南市第五人民医院', '邹城市人民医院'),
    ('EXP-003', '山东省千佛山医院',   '济宁市第二人民医院'),
    ('EXP-004', '山东省职业病医院',   '兖矿新里程总医院'),
    ('EXP-005', '山东省职业病医院',   '济宁市中医院'),
    ('EXP-006', '济南市中心医院',     '曲阜市人民医院'),
    ('EXP-007', '山东省职业病医院',   '兖矿新里程总医院'),
    ('EXP-008', '济南市第四人民医院', '兖州区人民医院'),
    ('EXP-009', '济南市第五人民医院', '邹城市人民医院'),
    ('EXP-010', '山东省千佛山医院',   '济宁市第二人民医院'),
    ('EXP-011', '山东省立医院',       '济宁市第一人民医院'),
    ('EXP-012', '济南市第五人民医院', '济宁市中医院'),
    ('EXP-013', '山东省职业病医院',   '济宁市第二人民医院'),
    ('EXP-014', '济南市中心医院',     '济宁市第一人民医院'),
    ('EXP-015', '济南市传染病医院',   '曲阜市人民医院'),
    ('EXP-016', '济南市第四人民医院', '邹城市人民医院'),
    ('EXP-017', '山东省职业病医院',   '兖矿新里程总医院'),
    ('EXP-018', '山东省立医院',       '济宁市第一人民医院'),
    ('EXP-019', '济南市传染病医院',   '兖州区人民医院'),
    ('EXP-020', '济南市第五人民医院', '邹城市人民医院'),
    ('EXP-021', '济南市第四人民医院', '济宁市第二人民医院'),
    ('EXP-022', '齐鲁医院',           '济宁医学院附属医院'),
    ('EXP-023', '山东省千佛山医院',   '曲阜市人民医院'),
    ('EXP-024', '济南市第四人民医院', '兖州区人民医院'),
    ('EXP-025', '山东省职业病医院',   '兖矿新里程总医院'),
    ('EXP-026', '齐鲁医院',           '济宁医学院附属医院'),
    ('EXP-027', '齐鲁医院',           '济宁医学院附属医院'),
    ('EXP-028', '山东省立医院',       '济宁市第一人民医院'),
    ('EXP-029', '山东省职业病医院',   '兖矿新里程总医院'),
    ('EXP-030', '济南市第五人民医院', '济宁市第二人民医院'),
    ('EXP-031', '济南市传染病医院',   '济宁市精神病防治院'),
    ('EXP-032', '山东省立医院',       '济宁市精神病防治院'),
    ('EXP-033', '济南市中心医院',     '济宁医学院附属医院'),
    ('EXP-034', '山东省职业病医院',   '济宁市第一人民医院'),
    ('EXP-035', '山东省职业病医院',   '兖矿新里程总医院'),
    ('EXP-036', '济南市第四人民医院', '济宁市第一人民医院'),
    ('EXP-037', '山东省职业病医院',   '兖矿新里程总医院'),
    ('EXP-038', '山东省职业病医院',   '济宁市中医院'),
    ('EXP-039', '济南市中心医院',     '济宁市中医院'),
    ('EXP-040', '济南市传染病医院',   '曲阜市人民医院'),
    ('EXP-041', '山东省立医院',       '济宁医学院附属医院')
) AS v (expert_id, demo_hospital, hospital)
WHERE e.expert_id = v.expert_id AND e.hospital = v.demo_hospital;

-- EXP-013 keeps 刘玉兰 and EXP-004 keeps 何红霞.
UPDATE experts AS e SET name = v.name
FROM (VALUES
    ('EXP-014', '刘玉兰', '刘雅琴'),
    ('EXP-036', '何红霞', '何晓燕')
) AS v (expert_id, demo_name, name)
WHERE e.expert_id = v.expert_id AND e.name = v.demo_name;

-- 003's demo recusals follow examples/initial_complete.json to its Jining data: worker
-- 370811198503120438 (HMAC-SHA256 with the dev key, as in 003), employer 91370811MA3C4K7T2H.
-- A row an operator already recorded with the new subject is left alone (UNIQUE).
UPDATE expert_conflicts AS c SET subject = v.subject
FROM (VALUES
    ('EXP-006', 'relative', '42443f137dd1df6599abac5044321bd3d5883aec2f7378ca63bd9a297dadcb20',
        '9de2b34899d549e4421aae453b18b2e20b523dc729628c4f9f3b0fc1ac6ed49f'),
    ('EXP-008', 'employer', '91370102MA3C4K7T2C', '91370811MA3C4K7T2H'),
    ('EXP-010', 'declared', '91370102MA3C4K7T2C', '91370811MA3C4K7T2H')
) AS v (expert_id, kind, demo_subject, subject)
WHERE c.expert_id = v.expert_id AND c.kind = v.kind AND c.subject = v.demo_subject
  AND NOT EXISTS (
      SELECT 1 FROM expert_conflicts AS o
      WHERE o.expert_id = v.expert_id AND o.kind = v.kind AND o.subject = v.subject
  );
