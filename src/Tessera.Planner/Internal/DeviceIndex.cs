namespace Tessera.Planner.Internal;

/// <summary>
/// The eligible devices sorted once by speed and by memory, with those already taken by earlier replicas marked: each
/// replica's prefilter is then a walk down two sorted lists, O(N), rather than two sorts of the remaining devices.
/// With automatic replicas the planner places up to a hundred replicas on pools of 10,000 devices; without this the
/// sorts were most of the time. Gives exactly the candidates <see cref="PlacementSearch.Prefilter"/> gives on the
/// devices left.
/// </summary>
internal sealed class DeviceIndex
{
    private readonly List<DeviceInfo> _byId;
    private readonly int[] _bySpeed;
    private readonly int[] _byCapacity;
    private readonly Dictionary<string, int> _position;
    private readonly bool[] _taken;

    /// <param name="eligible">Eligible devices sorted by id (<see cref="PoolPlanner.Eligible"/>).</param>
    public DeviceIndex(CostModel cost, List<DeviceInfo> eligible)
    {
        _byId = eligible;
        _taken = new bool[eligible.Count];
        _position = new Dictionary<string, int>(eligible.Count, StringComparer.Ordinal);
        var available = new long[eligible.Count];
        for (var i = 0; i < eligible.Count; i++)
        {
            _position[eligible[i].Id] = i;
            available[i] = cost.Available(eligible[i]);
        }
        // Ids are unique and the list is sorted by id, so position breaks ties as the id would.
        _bySpeed = Enumerable.Range(0, eligible.Count).ToArray();
        Array.Sort(_bySpeed, (a, b) =>
        {
            var c = eligible[b].MemoryBandwidthGBps.CompareTo(eligible[a].MemoryBandwidthGBps);
            return c != 0 ? c : a.CompareTo(b);
        });
        _byCapacity = Enumerable.Range(0, eligible.Count).ToArray();
        Array.Sort(_byCapacity, (a, b) =>
        {
            var c = available[b].CompareTo(available[a]);
            if (c == 0)
                c = eligible[b].MemoryBandwidthGBps.CompareTo(eligible[a].MemoryBandwidthGBps);
            return c != 0 ? c : a.CompareTo(b);
        });
        Remaining = eligible.Count;
    }

    /// <summary>Devices not yet taken.</summary>
    public int Remaining { get; private set; }

    /// <summary>Marks the devices of <paramref name="pipeline"/> as taken.</summary>
    public void Take(PipelinePlan pipeline)
    {
        foreach (var s in pipeline.Stages)
        {
            if (_position.TryGetValue(s.DeviceId, out var i) && !_taken[i])
            {
                _taken[i] = true;
                Remaining--;
            }
        }
    }

    /// <summary>The devices not taken, sorted by id.</summary>
    public List<DeviceInfo> Left()
    {
        var left = new List<DeviceInfo>(Remaining);
        for (var i = 0; i < _byId.Count; i++)
        {
            if (!_taken[i])
                left.Add(_byId[i]);
        }
        return left;
    }

    /// <summary>
    /// <see cref="PlacementSearch.Prefilter"/> on the devices not taken: the <paramref name="keep"/> fastest, the
    /// <paramref name="keep"/> largest and as many more of the largest as hold the model twice over; sorted by id.
    /// </summary>
    public List<DeviceInfo> Prefilter(CostModel cost, int keep)
    {
        if (Remaining <= 2 * keep)
            return Left();
        var chosen = new bool[_byId.Count];
        var count = 0;
        for (var r = 0; r < _bySpeed.Length && count < keep; r++)
        {
            var i = _bySpeed[r];
            if (_taken[i])
                continue;
            chosen[i] = true;
            count++;
        }
        long cumulative = 0;
        count = 0;
        for (var r = 0; r < _byCapacity.Length; r++)
        {
            var i = _byCapacity[r];
            if (_taken[i])
                continue;
            if (count >= keep && cumulative >= 2 * cost.TotalBytes(count))
                break;
            chosen[i] = true;
            cumulative += cost.Available(_byId[i]);
            count++;
        }
        var result = new List<DeviceInfo>(2 * keep);
        for (var i = 0; i < chosen.Length; i++)
        {
            if (chosen[i])
                result.Add(_byId[i]);
        }
        return result;
    }
}
